//! Unit tests of the pack format.

use super::*;

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

fn csv_rows(seed: u64, n: usize) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::new();
    while out.len() < n {
        let t: f64 = rng.random_range(-20.0..40.0);
        let id: u32 = rng.random();
        out.push_str(&format!("{id},station-{},{t:.2},ok\n", id % 97));
    }
    out.into_bytes()
}

#[test]
fn the_estimate_picks_text_and_leaves_random_and_compressed_bytes() {
    for len in [2048, 3000, 4096, 65536, 262144] {
        let text = csv_rows(len as u64, len);
        assert!(looks_compressible(&text), "CSV of {len} bytes");
        let noise = random_bytes(len as u64, len);
        assert!(!looks_compressible(&noise), "random bytes, {len}");
    }
    // Small chunks are left to zstd itself.
    assert!(looks_compressible(&random_bytes(1, 1000)));
    let packed = zstd::bulk::compress(&csv_rows(7, 1 << 20), 3).expect("zstd");
    assert!(!looks_compressible(&packed[..65536]), "zstd output");
    assert!(looks_compressible(&[0u8; 100_000]));
    // Auto mode compresses what the estimate picks, at level 1, and stores the rest raw.
    let text = csv_rows(9, 65536);
    assert_eq!(Policy::of_level(0).level_for(&text), Some(1));
    assert_eq!(Policy::of_level(0).level_for(&random_bytes(9, 65536)), None);
    assert_eq!(
        Policy::of_level(5).level_for(&random_bytes(9, 65536)),
        Some(5)
    );
    assert_eq!(Policy::of_level(-1).level_for(&text), None);
    assert_eq!(encode_chunk(&text, 1).0, Compression::Zstd);
}

#[test]
fn buffer_and_file_packs_are_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut file = PackBuilder::new(dir.path(), true).expect("builder");
    let mut mem = PackBuffer::new();
    for i in 0..5u8 {
        let data = vec![i; 1000 + i as usize];
        let id = ChunkId::of(&data);
        file.append(id, Compression::None, &data, data.len() as u32)
            .expect("append");
        mem.append(id, Compression::None, &data, data.len() as u32);
    }
    let (fid, fentries) = file.finish(dir.path()).expect("finish");
    let (mid, mentries, bytes) = mem.finish();
    assert_eq!(fid, mid);
    assert_eq!(fentries, mentries);
    assert_eq!(pack_id(&mentries), mid, "the id is the hash of the entries");
    assert_eq!(
        std::fs::read(pack_path(dir.path(), &fid)).expect("read"),
        bytes
    );
}

#[test]
fn a_reused_buffer_builds_the_same_pack() {
    let (id, bytes) = sample_pack();
    let mut mem = PackBuffer::reusing(vec![7u8; 100_000]);
    for i in 0..4u8 {
        let data = vec![i; 2000];
        mem.append(ChunkId::of(&data), Compression::None, &data, 2000);
    }
    let (rid, _, rbytes) = mem.finish();
    assert_eq!((rid, rbytes), (id, bytes));
}

fn sample_pack() -> (PackId, Vec<u8>) {
    let mut mem = PackBuffer::new();
    for i in 0..4u8 {
        let data = vec![i; 2000];
        mem.append(ChunkId::of(&data), Compression::None, &data, 2000);
    }
    let (id, _, bytes) = mem.finish();
    (id, bytes)
}

fn trailer_of(bytes: &[u8]) -> Result<Vec<PackEntry>> {
    read_trailer_with(Path::new("p.pack"), bytes.len() as u64, |buf, off| {
        buf.copy_from_slice(&bytes[off as usize..off as usize + buf.len()]);
        Ok(())
    })
}

#[test]
fn version_2_pack_is_named_by_its_trailer() {
    let (id, bytes) = sample_pack();
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")),
        2
    );
    assert!(id_matches(&bytes, &id));
    assert_eq!(trailer_of(&bytes).expect("valid").len(), 4);
    // A flipped data byte keeps the name (chunk verification catches it on read)...
    let mut data_flip = bytes.clone();
    data_flip[20] ^= 1;
    assert!(id_matches(&data_flip, &id));
    let e = trailer_of(&data_flip).expect("trailer intact")[0];
    assert!(decode_chunk(&e, &id, &data_flip[16..2016]).is_err());
    // ...a flipped trailer byte fails the trailer checksum.
    let mut trailer_flip = bytes.clone();
    let at = bytes.len() - FOOTER_LEN - 10;
    trailer_flip[at] ^= 1;
    assert!(trailer_of(&trailer_flip).is_err());
    assert!(!id_matches(&bytes, &PackId::of(b"other")));
}

#[test]
fn version_2_entries_must_tile_the_data_area() {
    // Two chunks with a gap of 8 stray bytes between them.
    let a = vec![1u8; 100];
    let b = vec![2u8; 100];
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&a);
    bytes.extend_from_slice(&[0xee; 8]);
    let b_off = bytes.len() as u64;
    bytes.extend_from_slice(&b);
    let t = bytes.len() as u64;
    let mut trailer = Vec::new();
    for (id, off) in [(ChunkId::of(&a), 16u64), (ChunkId::of(&b), b_off)] {
        PackEntry {
            id,
            offset: off,
            stored_len: 100,
            raw_len: 100,
            compression: Compression::None,
        }
        .encode(&mut trailer);
    }
    let hash = blake3::hash(&trailer);
    bytes.extend_from_slice(&trailer);
    bytes.extend_from_slice(&t.to_le_bytes());
    bytes.extend_from_slice(&2u64.to_le_bytes());
    bytes.extend_from_slice(hash.as_bytes());
    bytes.extend_from_slice(END_MAGIC);
    let err = trailer_of(&bytes).expect_err("a gap is rejected");
    assert!(err.to_string().contains("tile"), "{err}");
    // The same layout as version 1 (named by the whole file) is still accepted.
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(trailer_of(&bytes).expect("v1").len(), 2);
    assert!(id_matches(&bytes, &PackId::of(&bytes)));
}
