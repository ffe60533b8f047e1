//! `pack::read_trailer_with` over an in-memory pack, then `pack::decode_chunk` of each entry.
//!
//! Properties: no panic, no hang and no absurd allocation for any input; every entry the
//! trailer check lets through lies inside the data area; a decoded chunk has its declared
//! length and hashes to its id.
//!
//! The trailer carries a BLAKE3 of its entries, which mutation never gets right, so each input
//! is also tried with that checksum recomputed: the fuzzer then explores the entries.
#![no_main]

use std::path::Path;

use dvx_store::pack::{self, FOOTER_LEN, HEADER_LEN};
use dvx_store::{ChunkId, Error, PackId};
use libfuzzer_sys::fuzz_target;

/// Decoding is bounded (256 MiB per chunk) but not free: cap the entries decoded per input
/// so that one input of many entries aimed at one zstd bomb is not a "timeout".
const MAX_DECODED: usize = 16;

fn check(data: &[u8]) {
    let path = Path::new("fuzz.pack");
    let len = data.len() as u64;
    let entries = pack::read_trailer_with(path, len, |buf, offset| {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(buf.len())?));
        match src {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(Error::io(
                "read",
                path,
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            )),
        }
    });
    let Ok(entries) = entries else {
        return;
    };
    let trailer_offset = u64::from_le_bytes(
        data[data.len() - FOOTER_LEN..][..8]
            .try_into()
            .expect("8 bytes"),
    );
    let pack_id = PackId::of(data);
    for e in entries.iter().take(MAX_DECODED) {
        let end = e.offset.checked_add(u64::from(e.stored_len));
        let end = end.filter(|&end| e.offset >= HEADER_LEN && end <= trailer_offset);
        let end = end.unwrap_or_else(|| panic!("entry outside the data area: {e:?}"));
        let stored = &data[e.offset as usize..end as usize];
        if let Ok(raw) = pack::decode_chunk(e, &pack_id, stored) {
            assert_eq!(raw.len(), e.raw_len as usize);
            assert_eq!(ChunkId::of(&raw), e.id);
        }
    }
}

/// `data` with the trailer checksum recomputed, when the footer's offset and count fit.
fn fix_checksum(data: &[u8]) -> Option<Vec<u8>> {
    let min = HEADER_LEN as usize + FOOTER_LEN;
    if data.len() < min {
        return None;
    }
    let foot = data.len() - FOOTER_LEN;
    let offset = usize::try_from(u64::from_le_bytes(data[foot..foot + 8].try_into().ok()?)).ok()?;
    if offset < HEADER_LEN as usize || offset > foot {
        return None;
    }
    let mut fixed = data.to_vec();
    let hash = blake3::hash(&data[offset..foot]);
    fixed[foot + 16..foot + 48].copy_from_slice(hash.as_bytes());
    (fixed != data).then_some(fixed)
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = fix_checksum(data) {
        check(&fixed);
    }
});
