//! Downloads of a remote's index objects into the local cache, in pieces: an index object
//! merged by an older `gc --remote` lists every chunk of the remote (56 bytes each), so it
//! is never held whole in memory.

use std::path::Path;

use dvx_store::fs::AtomicFile;
use dvx_store::index;
use dvx_store::BackendError;

use super::super::session::Session;
use crate::error::Result;

/// Bytes asked for at once.
const PIECE: u64 = if cfg!(test) { 1 << 10 } else { 8 << 20 };
/// The checksum at the end of an index file: the BLAKE3 of the bytes before it.
const CHECKSUM_LEN: u64 = 32;

/// Downloads the unsealed index object `key` into `local`, checked against `name` (the hex
/// BLAKE3 its key carries) on the way. `Ok(Err(problem))` when the object is damaged: the
/// cache is then left without it. Network or access errors stop the command.
pub(super) fn download_index(
    b: &Session<'_>,
    key: &str,
    name: &str,
    local: &Path,
) -> Result<std::result::Result<(), String>> {
    let damaged = |e: BackendError| match e {
        e @ BackendError::Permanent { .. } => Ok(Err(format!("cannot be used: {e}"))),
        e => Err(b.error(e)),
    };
    // Bounded by the size its header declares: the remote is not trusted.
    let header = match b.get_range(key, 0, index::HEADER_LEN as u64) {
        Ok(h) => h,
        Err(e) => return damaged(e),
    };
    let Some(len) = index::file_len_from_header(&header).filter(|&l| l >= CHECKSUM_LEN) else {
        return Ok(Err(
            "is not an index file this dvx reads (bad header)".to_string()
        ));
    };
    let summed = len - CHECKSUM_LEN;
    let mut out = AtomicFile::create(local)?;
    let mut hasher = blake3::Hasher::new();
    let mut at = 0;
    while at < len {
        let want = PIECE.min(len - at);
        let piece = match b.get_range(key, at, want) {
            Ok(p) => p,
            Err(e) => return damaged(e),
        };
        if piece.len() as u64 != want {
            return Ok(Err(format!(
                "is shorter than its header declares ({} of {len} bytes)",
                at + piece.len() as u64
            )));
        }
        let hashed = summed.saturating_sub(at).min(want) as usize;
        hasher.update(&piece[..hashed]);
        out.write_all(&piece)?;
        at += want;
    }
    if hasher.finalize().to_hex().as_str() != name {
        // An index only speeds up lookups: the packs it lists describe themselves, so they
        // are read through their trailers instead.
        return Ok(Err(
            "is corrupt (its checksum does not match its name)".to_string()
        ));
    }
    out.commit()?;
    Ok(Ok(()))
}
