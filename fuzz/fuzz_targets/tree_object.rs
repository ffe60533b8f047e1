//! `decode_tree_object` (a tree object file: 24-byte header, then raw or zstd payload).
//!
//! Properties: no panic, no hang and no allocation beyond libFuzzer's limits for any input
//! (decompression is bounded by the declared size); a decoded object hashes to its id; its
//! content goes on through `Tree::decode` (and must then re-encode to itself).
#![no_main]

use dvx_manifest::Tree;
use dvx_store::{decode_tree_object, TreeId};
use libfuzzer_sys::fuzz_target;

fn check(id: &TreeId, data: &[u8]) {
    let Ok(raw) = decode_tree_object(id, data) else {
        return;
    };
    assert_eq!(TreeId::of(&raw), *id);
    if let Ok(tree) = Tree::decode(&raw) {
        assert_eq!(tree.encode(), raw);
    }
}

fuzz_target!(|data: &[u8]| {
    // An id the content cannot match: everything up to the hash check runs.
    check(&TreeId([0x5a; 32]), data);
    // The id an uncompressed payload would have, so the success path is reachable.
    let payload = data.get(24..).unwrap_or_default();
    check(&TreeId::of(payload), data);
    // The id of what a (small) zstd payload decompresses to.
    if let Ok(raw) = zstd::bulk::decompress(payload, 1 << 16) {
        check(&TreeId::of(&raw), data);
    }
});
