//! What the store lacks, on demand: the remote (or a source's store) opened once per process,
//! a version's trees as a whole, chunks as reads need them.

use std::sync::{Arc, Mutex};

use dvx_manifest::Pointer;
use dvx_store::Store;

use super::{Access, Connected, Kind};
use crate::error::{Error, Result};
use crate::progress::NoProgress;
use crate::scan::Listing;
use crate::source::{open_source_data, SourceData};
use crate::transfer::fetch::TreeSource;
use crate::transfer::layout::RemoteIndex;
use crate::transfer::session::Session;

impl Access {
    /// The remote to read from, opened once per process.
    pub(crate) fn connect(&self) -> Result<Arc<Connected>> {
        if self.inner.offline {
            // Offline: what the store lacks is missing, as when there is no remote.
            return Err(Error::NoSuchRemote { name: None });
        }
        let mut slot = self.inner.remote.lock().expect("remote lock poisoned");
        let pid = std::process::id();
        if let Some(c) = slot.as_ref() {
            if c.pid == pid {
                return Ok(c.clone());
            }
            // A forked child: the parent's runtime threads are not here, so dropping its
            // connection could wait for them forever. It is left alone.
            std::mem::forget(slot.take());
        }
        let data = match &self.inner.kind {
            Kind::Local { ws, .. } => SourceData::Remote(crate::remote::open_remote(
                ws,
                self.inner.remote_name.as_deref(),
                &self.inner.env,
            )?),
            Kind::Source { opts, located, .. } => {
                let loc = located.lock().expect("located lock poisoned").clone();
                let loc = loc.expect("a source's data is read after its pointer was found");
                open_source_data(&loc, opts, None, &self.inner.env)?
            }
        };
        let c = Arc::new(Connected {
            pid,
            data,
            index: Mutex::new(None),
        });
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Makes sure the store holds every tree of `p`'s version, downloading them when it does
    /// not (children written before parents: a tree in the store has all its subtrees).
    pub(super) fn ensure_trees(&self, p: &Pointer) -> Result<()> {
        let store = self.store()?;
        if store.has_tree(&p.id) {
            return Ok(());
        }
        let missing = || Error::MissingVersion {
            path: p.path.clone(),
            id: p.id,
        };
        let c = match self.connect() {
            Ok(c) => c,
            // No remote to ask: the version is simply not here.
            Err(Error::NoSuchRemote { name: None }) => return Err(missing()),
            Err(e) => return Err(e),
        };
        let session;
        let source = match &c.data {
            SourceData::Remote(remote) => {
                session = Session::open(remote);
                TreeSource::Remote(&session)
            }
            SourceData::Store { store: src, .. } => TreeSource::Store(src),
        };
        crate::transfer::fetch::fetch_trees(store, &self.state_dir(), source, p)
    }

    /// The flat listing of `p`'s version.
    pub(super) fn listing(&self, p: &Pointer) -> Result<Listing> {
        self.ensure_trees(p)?;
        crate::treeio::load_dataset(self.store()?, p)
    }

    /// [`Access::listing`] and the id and totals of every directory in it.
    pub(super) fn listing_and_dirs(
        &self,
        p: &Pointer,
    ) -> Result<(Listing, crate::treeio::DirInfo)> {
        self.ensure_trees(p)?;
        let mut dirs = crate::treeio::DirInfo::new();
        let listing = crate::treeio::load_dataset_dirs(self.store()?, p, Some(&mut dirs))?;
        Ok((listing, dirs))
    }

    /// Brings the chunks `needed` into the store from the remote (verified on arrival).
    pub(crate) fn fetch_chunks(
        &self,
        needed: &std::collections::BTreeMap<dvx_store::ChunkId, Vec<String>>,
    ) -> Result<()> {
        if needed.is_empty() {
            return Ok(());
        }
        let store = self.store()?;
        let c = match self.connect() {
            Ok(c) => c,
            // No remote to ask: the file's data is simply not here.
            Err(Error::NoSuchRemote { name: None }) => {
                let (chunk, files) = needed.iter().next().expect("not empty");
                return Err(Error::DamagedFile {
                    file: files.first().cloned().unwrap_or_default(),
                    source: dvx_store::Error::MissingChunk(*chunk),
                });
            }
            Err(e) => return Err(e),
        };
        let remote = match &c.data {
            SourceData::Remote(r) => r,
            SourceData::Store { store: src, .. } => return copy_chunks(src, store, needed),
        };
        let b = Session::open(remote);
        let index = {
            let mut slot = c.index.lock().expect("index lock poisoned");
            match slot.as_ref() {
                Some(i) => i.clone(),
                None => {
                    let i = Arc::new(RemoteIndex::load_in(&self.state_dir(), &b)?);
                    *slot = Some(i.clone());
                    i
                }
            }
        };
        let download = |index: &RemoteIndex| {
            let mut ids = needed.keys();
            crate::transfer::fetch::download_located(
                index,
                store,
                &b,
                &self.state_dir(),
                &mut || Ok(ids.next().copied()),
                &|wanted| {
                    let mut files = Vec::new();
                    for (c, names) in needed {
                        if wanted(c)? {
                            files.extend(names.iter().cloned());
                        }
                    }
                    Ok(files)
                },
                &NoProgress,
            )
        };
        match download(&index) {
            // The remote may have received these chunks after its index was read.
            Err(Error::RemoteObject { missing: true, .. }) => {
                let fresh = Arc::new(RemoteIndex::load_in(&self.state_dir(), &b)?);
                *c.index.lock().expect("index lock poisoned") = Some(fresh.clone());
                download(&fresh)
            }
            r => r,
        }
        .map(|_| ())
    }
}

/// Copies the chunks `needed` from another local store (verified as they are read).
fn copy_chunks(
    src: &Store,
    dst: &Store,
    needed: &std::collections::BTreeMap<dvx_store::ChunkId, Vec<String>>,
) -> Result<()> {
    let writer = dst.writer().cached();
    let copied = needed.iter().try_for_each(|(c, files)| {
        let data = src.read_chunk(c).map_err(|source| Error::DamagedFile {
            file: files.first().cloned().unwrap_or_default(),
            source,
        })?;
        writer.add_chunk_with_id(*c, &data)?;
        Ok::<(), Error>(())
    });
    // Keep what was copied, even after an error.
    let finished = writer.finish();
    copied?;
    finished?;
    Ok(())
}
