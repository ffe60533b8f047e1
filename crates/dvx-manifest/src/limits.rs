//! The bounds every reader applies to trees, versions and pointers (docs/FORMAT.md sections 6
//! and 7), in one place: the decoders enforce them on untrusted input and `dvx add` checks the
//! same constants before it stores anything, so whatever `add` accepts every command reads back.

/// Most entries in one tree (one directory).
pub const MAX_ENTRIES: u64 = 10_000_000;
/// Most chunks of one file.
pub const MAX_CHUNKS: u64 = 1 << 24;
/// Longest entry name, in bytes.
pub const MAX_NAME: usize = 4096;
/// Longest symlink target, in bytes.
pub const MAX_LINK: usize = 65536;
/// Deepest directory nesting of a version: the root tree is at depth 0, so a directory entry
/// whose path has `MAX_DEPTH` components is the deepest allowed.
pub const MAX_DEPTH: usize = 512;
/// Most files (and links) one version may hold.
pub const MAX_FILES: u64 = 50_000_000;
/// Largest encoded tree (the raw length a tree object may declare).
pub const MAX_TREE_LEN: u64 = dvx_id::MAX_TREE_LEN;
/// Largest pointer file, in bytes.
pub const MAX_POINTER_LEN: usize = 1 << 20;

/// Nesting depth of the tree that holds an entry at `path` (`/`-separated, relative to the
/// dataset base), counting a directory entry as its own tree: the number [`MAX_DEPTH`] bounds.
pub fn tree_depth(path: &[u8], is_dir: bool) -> usize {
    let components = path.split(|&b| b == b'/').count();
    if is_dir {
        components
    } else {
        components - 1
    }
}

/// Smallest possible encoded length of a file entry in a tree: its name, size, digest and
/// at least `ceil(size / max_chunk)` chunk references (one chunk id and a length each).
pub fn min_file_entry_len(name_len: usize, size: u64, max_chunk: u32) -> u64 {
    let chunks = size.div_ceil(u64::from(max_chunk.max(1)));
    1 + varint_len(name_len as u64)
        + name_len as u64
        + varint_len(size)
        + 32
        + varint_len(chunks)
        + chunks.saturating_mul(33)
}

/// Smallest possible encoded length of a directory entry (name, size, file count, tree id).
pub fn min_dir_entry_len(name_len: usize) -> u64 {
    1 + varint_len(name_len as u64) + name_len as u64 + 1 + 1 + 32
}

/// Encoded length of a symlink entry.
pub fn link_entry_len(name_len: usize, target_len: usize) -> u64 {
    1 + varint_len(name_len as u64)
        + name_len as u64
        + varint_len(target_len as u64)
        + target_len as u64
}

/// Length of the tree header (magic, version, entry count) for `entries` entries.
pub fn tree_header_len(entries: u64) -> u64 {
    5 + varint_len(entries)
}

/// Bytes of the LEB128 varint encoding of `v` (as in tree encodings).
pub fn varint_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}
