//! A dataset on disk beside a stored version, entry by entry: the scan of the disk and a
//! depth-first walk of the version's trees (on a thread of its own) come in the same order
//! ([`walk_cmp`](crate::treeio::walk_cmp)) and are merged as they come. Memory holds a batch
//! of each side, never the dataset. Used by `status` and checkout.

use std::sync::mpsc::{sync_channel, Receiver};

use dvx_manifest::EntryKind;
use dvx_store::{Store, TreeId};

use super::{scan_each, FlatEntry, ScanEnd, Scanned};
use crate::error::Result;
use crate::progress::Progress;
use crate::statcache::StatCache;
use crate::workspace::{Dataset, Workspace};

/// Entries of the version handed from the walk to the merge at a time.
const WALK_BATCH: usize = 1024;

/// One entry of the version.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) entry: FlatEntry,
    /// For a directory: whether it holds anything.
    pub(crate) filled: bool,
}

/// One path, as found on disk and in the version (at least one of them).
pub(crate) struct Pair {
    pub(crate) rel: Vec<u8>,
    pub(crate) disk: Option<Scanned>,
    pub(crate) stored: Option<Stored>,
}

/// How to merge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sides {
    /// Scan the disk; when false the disk is taken as empty.
    pub(crate) disk: bool,
    /// Keep the chunk lists of the version's files (a comparison needs none).
    pub(crate) chunks: bool,
}

/// Shows `visit` every path of the dataset `ds` on disk or in its version `root`, in walk
/// order. The scan's end is returned (`None` when the disk was not scanned).
#[allow(clippy::too_many_arguments)]
pub(crate) fn merge_with_version(
    ws: &Workspace,
    ds: &Dataset,
    store: &Store,
    root: &TreeId,
    cache: &StatCache,
    sides: Sides,
    progress: &dyn Progress,
    visit: &mut dyn FnMut(Pair) -> Result<()>,
) -> Result<Option<ScanEnd>> {
    let empty_tree = dvx_manifest::Tree::default().id();
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<(Vec<u8>, Stored)>>(8);
        let walker = scope.spawn(move || {
            let mut batch = Vec::with_capacity(WALK_BATCH);
            let mut closed = false;
            let walked = crate::treeio::walk_depth_first(store, root, &mut |rel, e| {
                let filled = !matches!(e.kind, EntryKind::Dir { id, .. } if id == empty_tree);
                let mut entry = crate::treeio::flat_of(&e.kind);
                if !sides.chunks {
                    if let FlatEntry::File { chunks, .. } = &mut entry {
                        *chunks = Vec::new();
                    }
                }
                batch.push((rel.to_vec(), Stored { entry, filled }));
                if batch.len() >= WALK_BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
                    closed = true;
                }
                !closed
            });
            if !closed && !batch.is_empty() {
                let _ = tx.send(batch);
            }
            walked
        });
        let mut version = Version {
            rx,
            batch: Vec::new().into_iter(),
            peeked: None,
        };
        let mut merged = || -> Result<Option<ScanEnd>> {
            let end = if sides.disk {
                let end = scan_each(
                    ws,
                    ds,
                    store.config().chunker,
                    cache,
                    None,
                    progress,
                    &mut |s| {
                        while let Some((rel, st)) =
                            version.next_if(|t| crate::treeio::walk_cmp(&t.0, &s.rel).is_lt())
                        {
                            visit(Pair {
                                rel,
                                disk: None,
                                stored: Some(st),
                            })?;
                        }
                        let stored = version.next_if(|t| t.0 == s.rel).map(|(_, st)| st);
                        visit(Pair {
                            rel: s.rel.clone(),
                            disk: Some(s),
                            stored,
                        })
                    },
                )?;
                Some(end)
            } else {
                None
            };
            while let Some((rel, st)) = version.next_if(|_| true) {
                visit(Pair {
                    rel,
                    disk: None,
                    stored: Some(st),
                })?;
            }
            Ok(end)
        };
        let merged = merged();
        // Stops the walk if the merge ended early.
        drop(version);
        let walked = walker.join().expect("the tree walk does not panic");
        let end = merged?;
        walked?;
        Ok(end)
    })
}

/// The version's side, as the walk hands it over.
struct Version {
    rx: Receiver<Vec<(Vec<u8>, Stored)>>,
    batch: std::vec::IntoIter<(Vec<u8>, Stored)>,
    peeked: Option<(Vec<u8>, Stored)>,
}

impl Version {
    /// The next entry if `pred` accepts it.
    fn next_if(
        &mut self,
        pred: impl FnOnce(&(Vec<u8>, Stored)) -> bool,
    ) -> Option<(Vec<u8>, Stored)> {
        if self.peeked.is_none() {
            self.peeked = loop {
                if let Some(e) = self.batch.next() {
                    break Some(e);
                }
                match self.rx.recv() {
                    Ok(b) => self.batch = b.into_iter(),
                    Err(_) => break None,
                }
            };
        }
        match &self.peeked {
            Some(e) if pred(e) => self.peeked.take(),
            _ => None,
        }
    }
}
