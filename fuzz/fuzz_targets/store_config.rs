//! `Store::open` of a directory whose `config.toml` is the input (StoreConfig parsing and
//! validation).
//!
//! Properties: no panic for any input; an accepted config has values in the documented
//! ranges (chunker limits, 1 MiB..=4 GiB packs, zstd level 0..=22).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use dvx_store::Store;
use libfuzzer_sys::fuzz_target;

mod scratch;

/// One store directory per process; only its config.toml changes between inputs.
fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dvx-fuzz-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch store directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir();
    scratch::overwrite(&dir.join("config.toml"), data);
    let Ok(store) = Store::open(dir) else {
        return;
    };
    let cfg = store.config();
    assert!(cfg.chunker.validate().is_ok(), "{cfg:?}");
    assert!((1 << 20..=4 << 30).contains(&cfg.pack_size), "{cfg:?}");
    assert!((0..=22).contains(&cfg.zstd_level), "{cfg:?}");
});
