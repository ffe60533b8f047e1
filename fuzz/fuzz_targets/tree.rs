//! `Tree::decode` (the canonical binary encoding of one directory).
//!
//! Properties: no panic for any input; only the canonical encoding is accepted, so a decoded
//! tree re-encodes to exactly the input bytes (and so has the id of the input); its entries
//! pass `Tree::new` unchanged; lookups by name find every entry.
#![no_main]

use dvx_manifest::Tree;
use dvx_store::TreeId;
use libfuzzer_sys::fuzz_target;


fuzz_target!(|data: &[u8]| {
    let Ok(tree) = Tree::decode(data) else {
        return;
    };
    assert_eq!(
        tree.encode(),
        data,
        "decode accepted a non-canonical encoding"
    );
    assert_eq!(tree.id(), TreeId::of(data));
    let rebuilt = Tree::new(tree.entries().to_vec()).expect("decoded entries are valid");
    assert_eq!(rebuilt, tree);
    for e in tree.entries() {
        assert_eq!(tree.get(&e.name), Some(e));
    }
    // Accessors callers use on decoded (untrusted) trees must not overflow on hostile sizes
    // and counts (finding F3).
    let _ = (tree.size(), tree.files());
});
