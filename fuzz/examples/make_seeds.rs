//! Writes the seed corpora of the fuzz targets: small, valid files produced by the dvx
//! libraries themselves, to `fuzz/corpus/<target>/seed-*` (or under the directory given as
//! the first argument). Deterministic: running it again rewrites the same bytes.
//!
//!     cd fuzz && cargo run --example make_seeds

use std::path::{Path, PathBuf};

use dvx_manifest::{ChunkRef, DatasetKind, Entry, EntryKind, Meta, Pointer, Tree};
use dvx_store::{ChunkId, Digest, Store, StoreOptions, TreeId};

fn write(root: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("create corpus directory");
    let path = dir.join(format!("seed-{name}"));
    std::fs::write(&path, bytes).expect("write seed");
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn file(name: &str, content: &[u8], executable: bool) -> Entry {
    let chunks = content
        .chunks(7)
        .map(|c| ChunkRef {
            id: ChunkId::of(c),
            len: c.len() as u32,
        })
        .collect();
    Entry {
        name: name.as_bytes().to_vec(),
        kind: EntryKind::File {
            size: content.len() as u64,
            digest: Digest::of(content),
            executable,
            chunks,
        },
    }
}

fn sample_tree() -> Tree {
    Tree::new(vec![
        file("a.csv", b"id,value\n1,2\n3,4\n", false),
        file("run.sh", b"#!/bin/sh\n", true),
        file("empty", b"", false),
        Entry {
            name: b"sub".to_vec(),
            kind: EntryKind::Dir {
                id: TreeId::of(b"sub"),
                size: 300,
                files: 3,
            },
        },
        Entry {
            name: b"latest".to_vec(),
            kind: EntryKind::Symlink {
                target: b"a.csv".to_vec(),
            },
        },
        file("donn\u{e9}es", b"x", false),
    ])
    .expect("valid tree")
}

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));

    // pointer
    let tree = sample_tree();
    let full = Pointer {
        path: "data/raw".into(),
        kind: DatasetKind::Dir,
        id: tree.id(),
        files: tree.files(),
        bytes: tree.size(),
        meta: Meta {
            message: Some("nightly export \"v2\"".into()),
            created: Some("2026-01-02T03:04:05Z".into()),
            extra: [
                ("source".to_string(), "s3://bucket/raw".to_string()),
                ("owner".to_string(), "data-team".to_string()),
            ]
            .into(),
        },
    };
    write(&root, "pointer", "dir", full.to_toml().as_bytes());
    let single = Pointer {
        path: "data".into(),
        kind: DatasetKind::File,
        id: TreeId::of(b"file"),
        files: 1,
        bytes: 42,
        meta: Meta::default(),
    };
    write(&root, "pointer", "file", single.to_toml().as_bytes());

    // tree
    write(&root, "tree", "mixed", &tree.encode());
    write(&root, "tree", "empty", &Tree::default().encode());
    let one = Tree::new(vec![file("x", b"xx", false)]).expect("valid tree");
    write(&root, "tree", "one", &one.encode());

    // A scratch store for the store-side files.
    let dir = std::env::temp_dir().join(format!("dvx-make-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = StoreOptions {
        pack_size: 1 << 20,
        ..StoreOptions::default()
    };
    let store = Store::open_or_create(&dir, &opts).expect("create store");

    // tree_object: zstd-compressed (>= 64 bytes and compressible) and stored as is (< 64 bytes).
    for (name, bytes) in [("zstd", tree.encode()), ("raw", Tree::default().encode())] {
        let id = store.write_tree(&bytes).expect("write tree");
        let object = std::fs::read(store.tree_path(&id)).expect("read tree object");
        write(&root, "tree_object", name, &object);
    }

    // pack and index: a few small chunks, some compressible, in one write session.
    let w = store.writer();
    let chunks: Vec<Vec<u8>> = vec![
        b"a,b,c\n".repeat(40),
        b"tiny".to_vec(),
        (0..=255u8).collect(),
        b"0123456789".repeat(20),
    ];
    for c in &chunks {
        w.add_chunk(c).expect("add chunk");
    }
    w.finish().expect("finish write session");
    let packs = store.list_packs().expect("list packs");
    assert_eq!(packs.len(), 1);
    let pack = std::fs::read(store.pack_path(&packs[0])).expect("read pack");
    write(&root, "pack", "four-chunks", &pack);
    let idx = store.list_index_files().expect("list index files");
    assert_eq!(idx.len(), 1);
    write(
        &root,
        "index",
        "four-chunks",
        &std::fs::read(&idx[0]).expect("read index"),
    );

    // store_config
    let cfg = std::fs::read(dir.join("config.toml")).expect("read config");
    write(&root, "store_config", "default", &cfg);

    std::fs::remove_dir_all(&dir).expect("remove scratch store");
}
