//! A remote in a local or mounted folder. Objects are files; writes are atomic renames.

use std::path::{Path, PathBuf};

use dvx_store::{Backend, BackendError, ObjectInfo};

/// A folder used as a remote.
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    /// A remote rooted at `root` (created on first write).
    pub fn new(root: PathBuf) -> DirBackend {
        DirBackend { root }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The error of a remote whose folder is gone: blame the mount, not the objects.
    fn unreachable(&self) -> BackendError {
        let what = if self.root.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        BackendError::NoRemote {
            message: format!(
                "remote not reachable: the remote folder {} {what} (is the share mounted? \
                 is the URL right? `dvx remote list` shows it)",
                self.root.display()
            ),
        }
    }

    fn err(&self, key: &str, e: std::io::Error) -> BackendError {
        match e.kind() {
            // An object missing because the whole remote is missing is not the object's fault.
            std::io::ErrorKind::NotFound if !self.root.is_dir() => self.unreachable(),
            std::io::ErrorKind::NotFound => BackendError::NotFound { key: key.into() },
            std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock => BackendError::Transient {
                key: key.into(),
                message: e.to_string(),
            },
            std::io::ErrorKind::PermissionDenied => BackendError::Denied {
                key: key.into(),
                message: format!("{} ({})", e, self.path(key).display()),
            },
            _ => BackendError::Permanent {
                key: key.into(),
                message: format!("{} ({})", e, self.path(key).display()),
            },
        }
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let ent = ent?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with(dvx_store::fs::TMP_PREFIX) {
            continue;
        }
        let key = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let ft = ent.file_type()?;
        if ft.is_dir() {
            walk(&ent.path(), &key, out)?;
        } else if ft.is_file() {
            out.push(ObjectInfo {
                key,
                size: ent.metadata()?.len(),
            });
        }
    }
    Ok(())
}

/// Objects from this size on (packs; not trees, indexes or records) are written with
/// `O_DIRECT` where the file system allows it.
const DIRECT_MIN: usize = 1 << 20;

impl Backend for DirBackend {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        // A folder that does not exist yet is an empty remote (the first push creates it),
        // but its parent must exist: a missing parent usually means an unmounted share.
        if !self.root.exists() {
            return match self.root.parent() {
                Some(p) if p.is_dir() => Ok(Vec::new()),
                _ => Err(BackendError::NoRemote {
                    message: format!(
                        "neither the remote folder {} nor its parent exists: is the share mounted?",
                        self.root.display()
                    ),
                }),
            };
        }
        // List the deepest directory the prefix names, then filter.
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let mut out = Vec::new();
        walk(&self.path(dir_part), dir_part, &mut out).map_err(|e| self.err(prefix, e))?;
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        // A FIFO, a device or a huge file where an object should be fails here, before a read
        // that would block or never end.
        match dvx_store::fs::read_bounded(&self.path(key), max_len) {
            Ok(data) => Ok(data),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(BackendError::Permanent {
                key: key.into(),
                message: format!("{e} ({})", self.path(key).display()),
            }),
            Err(e) => Err(self.err(key, e)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        let (f, size) = match dvx_store::fs::open_regular(&self.path(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(BackendError::Permanent {
                    key: key.into(),
                    message: format!("{e} ({})", self.path(key).display()),
                })
            }
            Err(e) => return Err(self.err(key, e)),
        };
        // Never allocate more than the file can return.
        let len = len.min(size.saturating_sub(offset));
        let mut buf = vec![0u8; len as usize];
        let mut done = 0usize;
        while done < buf.len() {
            let n = match dvx_store::fs::read_at(&f, &mut buf[done..], offset + done as u64) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.err(key, e)),
            };
            if n == 0 {
                break;
            }
            done += n;
        }
        buf.truncate(done);
        Ok(buf)
    }

    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError> {
        let path = self.path(key);
        let dir = path.parent().expect("keys have a parent");
        std::fs::create_dir_all(dir).map_err(|e| self.err(key, e))?;
        let permanent = |e: dvx_store::Error| BackendError::Permanent {
            key: key.into(),
            message: e.to_string(),
        };
        // A pack is written once and fsynced: around the page cache, like the store's own.
        let mut f = if data.len() >= DIRECT_MIN {
            dvx_store::fs::AtomicFile::create_direct(&path)
        } else {
            dvx_store::fs::AtomicFile::create(&path)
        }
        .map_err(permanent)?;
        f.write_all(&data).map_err(permanent)?;
        f.commit().map_err(permanent)
    }

    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        match std::fs::metadata(self.path(key)) {
            // Like `list`: only regular files are objects.
            Ok(m) if !m.is_file() => Ok(None),
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(key, e)),
        }
    }

    fn check_reachable(&self) -> Result<(), BackendError> {
        if self.root.is_dir() {
            Ok(())
        } else {
            Err(self.unreachable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_range_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = DirBackend::new(dir.path().join("remote"));
        assert!(
            b.list("packs/").expect("empty").is_empty(),
            "a new folder is an empty remote"
        );
        assert!(
            DirBackend::new(dir.path().join("a/b")).list("").is_err(),
            "missing parent"
        );
        b.put("packs/ab/x.pack", bytes::Bytes::from_static(b"0123456789"))
            .expect("put");
        b.put("trees/cd/y", bytes::Bytes::from_static(b"t"))
            .expect("put");
        assert_eq!(b.get("packs/ab/x.pack", 10).expect("get"), b"0123456789");
        assert!(b.get("packs/ab/x.pack", 9).is_err(), "larger than allowed");
        assert_eq!(b.get_range("packs/ab/x.pack", 2, 3).expect("range"), b"234");
        let keys: Vec<String> = b
            .list("packs/")
            .expect("list")
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, vec!["packs/ab/x.pack".to_string()]);
        assert_eq!(b.head("trees/cd/y").expect("head"), Some(1));
        assert!(matches!(
            b.get("nope", 10),
            Err(BackendError::NotFound { .. })
        ));
        b.delete("trees/cd/y").expect("delete");
        assert_eq!(b.head("trees/cd/y").expect("head"), None);
    }
}
