//! Packs as a remote stores them: built in memory for upload (a plain remote's pack is the
//! local format; an encrypted remote's seals each chunk as a frame of its own, and its
//! trailer), and opened again chunk by chunk (docs/FORMAT.md section 11).

use dvx_store::index::Location;
use dvx_store::pack::{self, Compression, PackBuffer};
use dvx_store::{ChunkId, PackEntry, PackId};

use super::{pack_key, with_label, NOT_AUTHENTIC};
use crate::crypt::{RemoteCrypt, NONCE_LEN, SEAL_OVERHEAD};
use crate::error::Result;
use crate::transfer::session::Session;

/// Encrypted pack: header magic, footer magic and footer length.
const EPACK_MAGIC: &[u8; 8] = b"DVXEPAK\0";
const EPACK_END: &[u8; 8] = b"DVXEEND\0";
const EPACK_HEADER: u64 = 16;
const EPACK_FOOTER: u64 = 24;
/// One entry of an encrypted pack's trailer (as a pack trailer entry, section 4).
const ENTRY_LEN: usize = 52;

/// A pack assembled in memory for upload, laid out as the remote stores it: a plain
/// remote's pack is the local format; an encrypted remote's pack leaves room around each
/// chunk for its frame's nonce and tag, so chunks are sealed where they lie, without a copy
/// (docs/FORMAT.md section 11).
pub(crate) enum UploadPack {
    Plain(PackBuffer),
    Sealed {
        buf: Vec<u8>,
        /// The entries as a plain pack of these chunks would list them: the pack's id is
        /// their hash in both layouts.
        entries: Vec<PackEntry>,
        plain_len: u64,
    },
}

/// A pack ready to upload: its id, where each chunk is in it, its bytes.
pub(crate) struct ReadyPack {
    id: PackId,
    located: Located,
    bytes: Vec<u8>,
}

impl UploadPack {
    /// An empty pack for the session's remote, built in `buf` (cleared; a buffer handed back
    /// by [`put_pack`] keeps its pages).
    pub(crate) fn new(b: &Session<'_>, mut buf: Vec<u8>) -> UploadPack {
        if b.crypt().is_none() {
            return UploadPack::Plain(PackBuffer::reusing(buf));
        }
        buf.clear();
        buf.extend_from_slice(EPACK_MAGIC);
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        UploadPack::Sealed {
            buf,
            entries: Vec::new(),
            plain_len: pack::HEADER_LEN,
        }
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> u64 {
        match self {
            UploadPack::Plain(p) => p.len(),
            UploadPack::Sealed { buf, .. } => buf.len() as u64,
        }
    }

    /// Appends one stored chunk.
    pub(crate) fn append(
        &mut self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) {
        match self {
            UploadPack::Plain(p) => {
                p.append(id, compression, stored, raw_len);
            }
            UploadPack::Sealed {
                buf,
                entries,
                plain_len,
            } => {
                let stored_len = u32::try_from(stored.len()).expect("chunks are far below 4 GiB");
                entries.push(PackEntry {
                    id,
                    offset: *plain_len,
                    stored_len,
                    raw_len,
                    compression,
                });
                *plain_len += stored_len as u64;
                buf.extend_from_slice(&[0u8; NONCE_LEN]);
                buf.extend_from_slice(stored);
                buf.extend_from_slice(&[0u8; SEAL_OVERHEAD - NONCE_LEN]);
            }
        }
    }

    /// The pack with its trailer; on an encrypted remote each chunk is sealed as a frame of
    /// its own (so ranged reads still fetch single chunks, on every core here) and the
    /// trailer is sealed too.
    pub(crate) fn finish(self, b: &Session<'_>) -> Result<ReadyPack> {
        let (buf, entries) = match self {
            UploadPack::Plain(p) => {
                let (id, entries, bytes) = p.finish();
                let located = entries
                    .iter()
                    .map(|e| (e.id, Location::of(id, e)))
                    .collect();
                return Ok(ReadyPack { id, located, bytes });
            }
            UploadPack::Sealed { buf, entries, .. } => (buf, entries),
        };
        let c = b
            .crypt()
            .expect("a sealed pack is built for an encrypted remote");
        let id = pack::pack_id(&entries);
        let mut located = Vec::with_capacity(entries.len());
        let mut trailer = Vec::with_capacity(entries.len() * ENTRY_LEN);
        let mut offset = EPACK_HEADER;
        for e in &entries {
            let loc = Location {
                pack: id,
                offset,
                stored_len: e.stored_len + SEAL_OVERHEAD as u32,
                raw_len: e.raw_len,
                compression: e.compression,
            };
            offset += loc.stored_len as u64;
            loc.entry(e.id).encode(&mut trailer);
            located.push((e.id, loc));
        }
        let mut out = buf;
        debug_assert_eq!(offset, out.len() as u64);
        {
            use rayon::prelude::*;
            let mut frames: Vec<(&ChunkId, &mut [u8])> = Vec::with_capacity(located.len());
            let mut rest = &mut out[EPACK_HEADER as usize..];
            for (cid, loc) in &located {
                let (frame, r) = rest.split_at_mut(loc.stored_len as usize);
                frames.push((cid, frame));
                rest = r;
            }
            frames
                .into_par_iter()
                .try_for_each(|(cid, frame)| c.seal_in_place(&frame_aad(&id, cid), frame))
                .map_err(|err| with_label(err, b))?;
        }
        let t = out.len() as u64;
        let sealed = c
            .seal(&trailer_aad(&id), &trailer)
            .map_err(|err| with_label(err, b))?;
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&(sealed.len() as u64).to_le_bytes());
        out.extend_from_slice(EPACK_END);
        Ok(ReadyPack {
            id,
            located,
            bytes: out,
        })
    }
}

/// Where each chunk of a pack is on the remote.
pub(crate) type Located = Vec<(ChunkId, Location)>;

/// Uploads a finished pack; returns where each chunk is on the remote, and the pack's buffer
/// when the remote kept no reference to it (to build the next pack in).
pub(crate) fn put_pack(b: &Session<'_>, pack: ReadyPack) -> Result<(Located, Option<Vec<u8>>)> {
    let key = pack_key(b, &pack.id);
    let spare = b.put_reclaim(&key, pack.bytes).map_err(|e| b.error(e))?;
    Ok((pack.located, spare))
}

/// A chunk frame is bound to its pack and its chunk: moved elsewhere, it does not open.
fn frame_aad(pack: &PackId, chunk: &ChunkId) -> Vec<u8> {
    let mut v = b"chunk\0".to_vec();
    v.extend_from_slice(&pack.0);
    v.extend_from_slice(&chunk.0);
    v
}

fn trailer_aad(pack: &PackId) -> Vec<u8> {
    let mut v = b"trailer\0".to_vec();
    v.extend_from_slice(&pack.0);
    v
}

/// The stored bytes of chunk `id` from its frame as read from the remote (a plain remote's
/// bytes are the stored bytes; an encrypted remote's frame is opened in place), with the
/// location of those bytes; an error text when the frame is not the one sealed for this
/// chunk of this pack.
pub(crate) fn open_chunk<'d>(
    b: &Session<'_>,
    id: &ChunkId,
    l: &Location,
    frame: &'d mut [u8],
) -> std::result::Result<(&'d [u8], Location), String> {
    match b.crypt() {
        None => Ok((frame, *l)),
        Some(c) => {
            let stored = c
                .open_in_place(&frame_aad(&l.pack, id), frame)
                .ok_or_else(|| NOT_AUTHENTIC.to_string())?;
            let plain = Location {
                stored_len: stored.len() as u32,
                ..*l
            };
            Ok((stored, plain))
        }
    }
}

/// The entries of an encrypted pack on the remote, from its sealed trailer (three ranged
/// reads: footer, trailer).
pub(super) fn read_sealed_trailer(
    b: &Session<'_>,
    c: &RemoteCrypt,
    id: &PackId,
    key: &str,
    size: u64,
) -> std::result::Result<Vec<PackEntry>, String> {
    if size < EPACK_HEADER + EPACK_FOOTER + SEAL_OVERHEAD as u64 {
        return Err("is too short to be an encrypted pack".into());
    }
    let foot = b
        .get_range(key, size - EPACK_FOOTER, EPACK_FOOTER)
        .map_err(|e| e.to_string())?;
    if foot.len() != EPACK_FOOTER as usize || &foot[16..] != EPACK_END {
        return Err("has no encrypted pack footer".into());
    }
    let t = u64::from_le_bytes(foot[..8].try_into().expect("8"));
    let len = u64::from_le_bytes(foot[8..16].try_into().expect("8"));
    if t < EPACK_HEADER
        || t.checked_add(len).and_then(|x| x.checked_add(EPACK_FOOTER)) != Some(size)
    {
        return Err("has a footer that does not match its length".into());
    }
    let sealed = b.get_range(key, t, len).map_err(|e| e.to_string())?;
    let plain = c
        .open(&trailer_aad(id), &sealed)
        .ok_or_else(|| format!("trailer {NOT_AUTHENTIC}"))?;
    if plain.len() % ENTRY_LEN != 0 {
        return Err("has a trailer of a bad length".into());
    }
    let mut out = Vec::with_capacity(plain.len() / ENTRY_LEN);
    for e in plain.chunks_exact(ENTRY_LEN) {
        let entry = PackEntry {
            id: ChunkId(e[..32].try_into().expect("32")),
            offset: u64::from_le_bytes(e[32..40].try_into().expect("8")),
            stored_len: u32::from_le_bytes(e[40..44].try_into().expect("4")),
            raw_len: u32::from_le_bytes(e[44..48].try_into().expect("4")),
            compression: Compression::from_byte(e[48]).ok_or("has a bad compression byte")?,
        };
        if entry.offset < EPACK_HEADER
            || entry.offset + entry.stored_len as u64 > t
            || entry.raw_len > pack::MAX_CHUNK_LEN
        {
            return Err("has a trailer entry outside its data".into());
        }
        out.push(entry);
    }
    Ok(out)
}
