//! A short-lived lock file serialising edits of shared files (.gitignore, pointers being
//! staged) between concurrent dvx processes. A lock whose holder is gone is broken.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct LockFile {
    path: PathBuf,
}

fn holder_alive(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return true;
    };
    match text.trim().parse::<u32>() {
        Ok(pid) => Path::new(&format!("/proc/{pid}")).exists(),
        // Being written right now.
        Err(_) => true,
    }
}

impl LockFile {
    pub fn acquire(path: &Path, timeout: Duration) -> Result<LockFile> {
        let start = Instant::now();
        if let Some(dir) = path.parent() {
            crate::fsx::create_dir_all(dir)?;
        }
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let old = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(2));
                    if old && !holder_alive(path) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if start.elapsed() > timeout {
                        return Err(Error::Usage(format!(
                            "timed out waiting for lock {}: another dvx is running; if none is, remove that file",
                            path.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io("create lock", path, e)),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
