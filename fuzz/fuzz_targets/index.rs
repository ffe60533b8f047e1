//! `IndexFile::open` (memory-mapped index file), then `lookup` and `entries`.
//!
//! Properties: no panic, no hang and no absurd allocation for any input; `entries()` yields
//! `len()` entries; a lookup of an id that `entries()` lists, in a well-formed (sorted) index,
//! finds it at that location.
//!
//! Index files end in a BLAKE3 of everything before it, which mutation never gets right, so
//! each input is also tried with that checksum recomputed.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use dvx_store::index::IndexFile;
use dvx_store::ChunkId;
use libfuzzer_sys::fuzz_target;

mod scratch;

/// One file per process, rewritten for each input (IndexFile::open takes a path).
fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("dvx-fuzz-index-{}.idx", std::process::id()))
    })
}

/// Fan-out table entry `b` (cumulative count of ids whose first byte is <= b).
fn fanout(data: &[u8], b: usize) -> usize {
    let at = 24 + 4 * b;
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn check(data: &[u8]) {
    let path = scratch_path();
    scratch::overwrite(path, data);
    let Ok(idx) = IndexFile::open(path) else {
        return;
    };
    // Fixed ids (both ends of the fan-out table) and ids taken from the entry area.
    let mut ids = vec![ChunkId([0; 32]), ChunkId([0xff; 32]), ChunkId::of(b"dvx")];
    for at in [24 + 1024, data.len() / 2, data.len().saturating_sub(64)] {
        if let Some(id) = data.get(at..at + 32).and_then(ChunkId::from_slice) {
            ids.push(id);
        }
    }
    for id in &ids {
        let _ = idx.lookup(id);
    }
    let _ = (idx.len(), idx.is_empty(), idx.packs().len(), idx.verify());
    if let Ok(entries) = idx.entries() {
        assert_eq!(entries.len(), idx.len());
        let well_formed = entries.windows(2).all(|w| w[0].0 < w[1].0)
            && entries.iter().enumerate().all(|(i, (id, _))| {
                let b = id.0[0] as usize;
                (b == 0 || fanout(data, b - 1) <= i) && i < fanout(data, b)
            });
        for (id, loc) in entries.iter().take(64) {
            let found = idx.lookup(id);
            if well_formed {
                assert_eq!(found.ok().flatten(), Some(*loc), "{id:?}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 32 {
        let (body, _) = data.split_at(data.len() - 32);
        let mut fixed = body.to_vec();
        fixed.extend_from_slice(blake3::hash(body).as_bytes());
        if fixed != data {
            check(&fixed);
        }
    }
});
