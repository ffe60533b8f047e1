//! One use of a remote: its backend, the name messages give it, and counts of what the calls
//! made through it moved (for the transfer report).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dvx_store::{Backend, BackendError, ObjectInfo};

use super::TransferReport;
use crate::crypt::RemoteCrypt;
use crate::error::Error;
use crate::remote::OpenRemote;

type Res<T> = std::result::Result<T, BackendError>;

/// A remote being used, counting requests, objects and bytes of the calls it forwards.
pub(crate) struct Session<'a> {
    inner: &'a dyn Backend,
    label: String,
    url: String,
    started: Instant,
    requests: AtomicU64,
    objects: AtomicU64,
    bytes: AtomicU64,
    /// The keys of an encrypted remote: [`super::layout`] names and seals with them.
    crypt: Option<Arc<RemoteCrypt>>,
}

impl<'a> Session<'a> {
    /// A session over `backend`; `label` names it in messages, `url` keys the local cache of
    /// its indexes.
    pub(crate) fn new(backend: &'a dyn Backend, label: &str, url: &str) -> Session<'a> {
        Session {
            inner: backend,
            label: label.to_string(),
            url: url.to_string(),
            started: Instant::now(),
            requests: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            crypt: None,
        }
    }

    /// A session over an opened remote (encrypted when it is).
    pub(crate) fn open(remote: &'a OpenRemote) -> Session<'a> {
        Session::new(remote.backend.as_ref(), &remote.label(), &remote.url)
            .with_crypt(remote.crypt.clone())
    }

    /// The session reading and writing the remote's encrypted layout with `crypt`.
    pub(crate) fn with_crypt(mut self, crypt: Option<Arc<RemoteCrypt>>) -> Session<'a> {
        self.crypt = crypt;
        self
    }

    /// The remote's keys, when it is encrypted.
    pub(crate) fn crypt(&self) -> Option<&RemoteCrypt> {
        self.crypt.as_deref()
    }

    /// How messages name the remote.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The remote's URL (no credentials).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The error of a failed request.
    pub(crate) fn error(&self, e: BackendError) -> Error {
        Error::Remote {
            remote: self.label.clone(),
            source: e,
        }
    }

    /// An empty report of a transfer through this session.
    pub(crate) fn report(&self) -> TransferReport {
        TransferReport {
            remote: self.label.clone(),
            ..TransferReport::default()
        }
    }

    /// Fills in what the session moved, and the time since it began.
    pub(crate) fn finish(&self, report: &mut TransferReport) {
        report.transferred = self.bytes.load(Ordering::Relaxed);
        report.objects = self.objects.load(Ordering::Relaxed);
        report.requests = self.requests.load(Ordering::Relaxed);
        report.seconds = self.started.elapsed().as_secs_f64();
    }

    fn count(&self, objects: u64, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn list(&self, prefix: &str) -> Res<Vec<ObjectInfo>> {
        self.count(0, 0);
        self.inner.list(prefix)
    }

    pub(crate) fn get(&self, key: &str, max_len: u64) -> Res<Vec<u8>> {
        let r = self.inner.get(key, max_len)?;
        self.count(1, r.len() as u64);
        Ok(r)
    }

    pub(crate) fn get_range(&self, key: &str, offset: u64, len: u64) -> Res<Vec<u8>> {
        let r = self.inner.get_range(key, offset, len)?;
        self.count(0, r.len() as u64);
        Ok(r)
    }

    pub(crate) fn put(&self, key: &str, data: Vec<u8>) -> Res<()> {
        let n = data.len() as u64;
        self.inner.put(key, data.into())?;
        self.count(1, n);
        Ok(())
    }

    /// Like [`Session::put`]; hands `data` back when the backend kept no reference to it,
    /// so a pipeline of large uploads reuses its buffers.
    pub(crate) fn put_reclaim(&self, key: &str, data: Vec<u8>) -> Res<Option<Vec<u8>>> {
        let n = data.len() as u64;
        let data = bytes::Bytes::from(data);
        self.inner.put(key, data.clone())?;
        self.count(1, n);
        Ok(data.try_into_mut().ok().map(Vec::from))
    }

    /// A read of the remote's own bookkeeping (the catalogue): a request, but no object or
    /// bytes of the data moved.
    pub(crate) fn get_uncounted(&self, key: &str, max_len: u64) -> Res<Vec<u8>> {
        self.count(0, 0);
        self.inner.get(key, max_len)
    }

    /// A write of the remote's own bookkeeping (see [`Session::get_uncounted`]).
    pub(crate) fn put_uncounted(&self, key: &str, data: Vec<u8>) -> Res<()> {
        self.count(0, 0);
        self.inner.put(key, data.into())
    }

    pub(crate) fn delete(&self, key: &str) -> Res<()> {
        self.inner.delete(key)
    }

    /// A remote that is not there (an unmounted share) must not read as "objects missing".
    pub(crate) fn check_reachable(&self) -> crate::error::Result<()> {
        self.inner.check_reachable().map_err(|e| self.error(e))
    }
}
