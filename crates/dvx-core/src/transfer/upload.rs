//! Push's uploads of chunk data: the missing chunks, read from the local packs and verified,
//! are repacked into new packs assembled in memory; each is uploaded, then its index, while
//! the next one is built.

use std::path::Path;

use dvx_store::index::Location;
use dvx_store::pack::{self, Compression};
use dvx_store::{ChunkId, Store};
use rayon::prelude::*;

use super::layout::{index_cache_path, put_index, put_pack, ReadyPack, UploadPack};
use super::plan::Located;
use super::session::Session;
use crate::error::Result;
use crate::progress::{Progress, Unit};
use crate::spool::{Merge, Sorted};
use crate::workspace::Workspace;

/// Packs uploaded by push are at most this size (they are assembled in memory).
const PUSH_PACK_SIZE: u64 = 48 << 20;
/// Stored bytes read, verified and compressed at once by push.
const PUSH_BATCH_BYTES: u64 = 4 << 20;
/// Batches whose pack reads are started ahead of the one being prepared.
const PREFETCH_BATCHES: usize = 3;

/// A chunk ready to be appended to an upload pack: id, compression, stored bytes, raw length.
type Prepared = (ChunkId, Compression, Vec<u8>, u32);

/// Repacks the missing chunks (verified) into new packs and uploads each pack, then its
/// index, while the next pack is being built.
/// `missing` is sorted by place (local packs are read sequentially) and holds `total` stored
/// bytes.
pub(super) fn upload_packs(
    ws: &Workspace,
    store: &Store,
    b: &Session<'_>,
    cache_dir: &Path,
    missing: &Sorted<Located>,
    total: u64,
    progress: &dyn Progress,
) -> Result<()> {
    let scratch = crate::fsx::ScratchDir::new(ws, "push")?;
    progress.begin("uploading", Some(total), Unit::Bytes);
    // Packs are assembled (and sealed, on an encrypted remote) in memory on this thread while
    // the uploader thread sends the previous one, then hands its buffer back: memory stays
    // near two packs, and their pages are faulted in once.
    let pack_size = store.config().pack_size.min(PUSH_PACK_SIZE);
    let capacity = (pack_size + PUSH_BATCH_BYTES + (1 << 20)) as usize;
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(ReadyPack, u64)>(0);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let scratch_ref = scratch.path();
        let uploader = s.spawn(move || -> Result<()> {
            for (pack, n) in rx {
                let (idx_entries, spare) = put_pack(b, pack)?;
                if let Some(buf) = spare {
                    // The builder may have finished: a buffer it no longer takes is dropped.
                    let _ = spare_tx.send(buf);
                }
                let (key, data) = put_index(b, scratch_ref, idx_entries)?;
                let cached = index_cache_path(cache_dir, &key).expect("an index key");
                crate::fsx::write_atomic(&cached, &data)?;
                progress.advance(n);
            }
            Ok(())
        });
        let mut builder: Option<(UploadPack, u64)> = None;
        let mut send_err = false;
        let level = store.config().remote_zstd_level;
        let mut chunks = missing.iter()?;
        let mut ahead = std::collections::VecDeque::new();
        let mut read_ahead = |ahead: &mut std::collections::VecDeque<Vec<Located>>| {
            let batch = next_batch(&mut chunks, PUSH_BATCH_BYTES)?;
            if !batch.is_empty() {
                prefetch(store, &batch);
                ahead.push_back(batch);
            }
            Ok::<(), crate::error::Error>(())
        };
        for _ in 0..PREFETCH_BATCHES {
            read_ahead(&mut ahead)?;
        }
        'batches: while let Some(batch) = ahead.pop_front() {
            read_ahead(&mut ahead)?;
            let prepared: Vec<Result<Prepared>> = batch
                .par_iter()
                .map(|l| prepare(store, level, &l.id, &l.at))
                .collect();
            for (r, Located { at: loc, .. }) in prepared.into_iter().zip(&batch) {
                let (id, compression, bytes, raw_len) = r?;
                let (bl, src) = builder.get_or_insert_with(|| {
                    let buf = spare_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(capacity));
                    (UploadPack::new(b, buf), 0)
                });
                bl.append(id, compression, &bytes, raw_len);
                // Progress counts local stored bytes (the total it was started with).
                *src += loc.stored_len as u64;
                if bl.len() >= pack_size {
                    let (full, src) = builder.take().expect("present");
                    if tx.send((full.finish(b)?, src)).is_err() {
                        send_err = true;
                        break 'batches;
                    }
                }
            }
        }
        if !send_err {
            if let Some((last, src)) = builder.take() {
                let _ = tx.send((last.finish(b)?, src));
            }
        }
        drop(tx);
        uploader.join().expect("uploader thread panicked")
    })?;
    progress.end();
    Ok(())
}

/// The next chunks of `chunks` up to about `bytes` stored bytes: each batch is read,
/// verified and (raw chunks) compressed on every core, then appended in order.
fn next_batch(chunks: &mut Merge<'_, Located>, bytes: u64) -> Result<Vec<Located>> {
    let mut batch = Vec::new();
    let mut acc = 0u64;
    while acc < bytes {
        let Some(l) = chunks.next()? else { break };
        acc += u64::from(l.at.stored_len);
        batch.push(l);
    }
    Ok(batch)
}

/// Starts reading the packs of `batch`: they are often not in the page cache (they are
/// written around it), so the reads of the next batches start before this one is prepared.
fn prefetch(store: &Store, batch: &[Located]) {
    let mut i = 0;
    while i < batch.len() {
        let pack = batch[i].at.pack;
        let start = batch[i].at.offset;
        let mut end = start + batch[i].at.stored_len as u64;
        i += 1;
        while i < batch.len() && batch[i].at.pack == pack {
            end = end.max(batch[i].at.offset + batch[i].at.stored_len as u64);
            i += 1;
        }
        store.will_need(&pack, start, end - start);
    }
}

/// Reads one chunk from the local store for upload, verified (a damaged chunk must never
/// leave the machine), and compressed at `level` if it is stored raw.
fn prepare(store: &Store, level: i32, id: &ChunkId, loc: &Location) -> Result<Prepared> {
    let stored = store.read_stored(loc)?;
    let entry = loc.entry(*id);
    if loc.compression == Compression::None {
        let raw = pack::decode_chunk_owned(&entry, &loc.pack, stored)?;
        // The local store keeps raw what its estimate found incompressible (or all chunks,
        // with `zstd_level = -1`): only the former skip zstd here too.
        let level = if pack::looks_compressible(&raw) {
            level
        } else {
            0
        };
        let (c, bytes) = pack::encode_chunk(&raw, level);
        let bytes = match bytes {
            std::borrow::Cow::Owned(b) => b,
            std::borrow::Cow::Borrowed(_) => raw,
        };
        Ok((*id, c, bytes, loc.raw_len))
    } else {
        pack::verify_chunk(&entry, &loc.pack, &stored)?;
        Ok((*id, loc.compression, stored, loc.raw_len))
    }
}
