//! The remote object store interface the transfer operations consume: a flat namespace of
//! immutable objects (packs, indexes, trees) named by their content. Implementations live in
//! dvx-remote (a folder, S3-compatible storage); [`MemoryBackend`] serves tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Why a backend call failed, classified for retries and messages. Messages never contain
/// credentials.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object does not exist.
    #[error("object {key} does not exist on the remote")]
    NotFound {
        /// Object key.
        key: String,
    },
    /// The remote refused the credentials or the request.
    #[error("{}{message}", key_prefix(key))]
    Denied {
        /// Object key (or the remote root).
        key: String,
        /// What happened and what to do.
        message: String,
    },
    /// The remote itself (bucket, folder) does not exist.
    #[error("{message}")]
    NoRemote {
        /// What is missing and what to do.
        message: String,
    },
    /// The remote can only be read (a web server): nothing can be written or deleted there.
    #[error("{message}")]
    ReadOnly {
        /// Which remote, and what to do instead.
        message: String,
    },
    /// Another failure that retrying will not fix (bad settings, an object too large).
    #[error("{}{message}", key_prefix(key))]
    Permanent {
        /// Object key (or the remote root).
        key: String,
        /// What happened and what to do.
        message: String,
    },
    /// A failure worth retrying (timeout, 5xx, dropped connection).
    #[error("{}{message}", key_prefix(key))]
    Transient {
        /// Object key.
        key: String,
        /// What happened.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

impl BackendError {
    /// True when a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient { .. })
    }
}

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the remote's root, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A remote object store. Keys are relative to the remote's root (`packs/ab/<id>.pack`).
/// Writes must be atomic: a reader sees the whole object or nothing.
pub trait Backend: Send + Sync {
    /// Human-readable remote description for messages (never with credentials).
    fn describe(&self) -> String;
    /// Every object whose key starts with `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError>;
    /// A whole object of at most `max_len` bytes. A larger object is an error
    /// ([`too_large`]) found before its bytes are read: objects are untrusted, and the caller
    /// knows how large one of its kind can be.
    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError>;
    /// At most `len` bytes at `offset` of an object (fewer at its end).
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError>;
    /// Stores an object (atomically; replacing an object with the same bytes is harmless).
    /// The bytes are shared, not copied, by a retry.
    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError>;
    /// Size of an object, or None if absent.
    fn head(&self, key: &str) -> Result<Option<u64>, BackendError>;
    /// Deletes an object (absent is fine).
    fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Checks that the remote is there to be read: a folder remote whose folder does not
    /// exist (an unmounted share, a typo) is an error here, where [`Backend::list`] calls it
    /// empty so that a first push can create it.
    fn check_reachable(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The error of a [`Backend::get`] whose object is larger than allowed.
pub fn too_large(key: &str, size: u64, max_len: u64) -> BackendError {
    BackendError::Permanent {
        key: key.into(),
        message: format!(
            "is {size} bytes, more than the {max_len} bytes an object of its kind can have: it \
             is damaged or not a dvx object; remove it (`dvx fsck --remote` checks the remote)"
        ),
    }
}

/// An in-memory backend for tests.
#[derive(Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Direct access for tests (corrupting objects, counting them).
    pub fn with_objects<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T) -> T {
        f(&mut self.objects.lock().expect("memory backend poisoned"))
    }
}

impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        Ok(self.with_objects(|o| {
            o.range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                })
                .collect()
        }))
    }

    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        let data = self
            .with_objects(|o| o.get(key).cloned())
            .ok_or_else(|| BackendError::NotFound { key: key.into() })?;
        if data.len() as u64 > max_len {
            return Err(too_large(key, data.len() as u64, max_len));
        }
        Ok(data)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        let data = self.get(key, u64::MAX)?;
        let start = (offset as usize).min(data.len());
        let end = (offset.saturating_add(len) as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError> {
        self.with_objects(|o| o.insert(key.to_string(), data.to_vec()));
        Ok(())
    }

    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        Ok(self.with_objects(|o| o.get(key).map(|v| v.len() as u64)))
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.with_objects(|o| o.remove(key));
        Ok(())
    }
}
