//! Tree objects: the entries of one directory, sorted by name, in a canonical binary encoding
//! (docs/FORMAT.md, "Tree object"). Decoding validates everything, since trees come from
//! remotes and are untrusted.

use dvx_id::{ChunkId, Digest, TreeId};

use crate::error::{Error, Result};
use crate::limits::{MAX_CHUNKS, MAX_ENTRIES, MAX_LINK, MAX_NAME, MAX_TREE_LEN};

/// Tree encoding version.
pub const TREE_FORMAT: u8 = 1;
const MAGIC: &[u8; 4] = b"DVXT";

/// One chunk of a file: its id and uncompressed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// Chunk id.
    pub id: ChunkId,
    /// Length in bytes.
    pub len: u32,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// BLAKE3 of the content.
        digest: Digest,
        /// The executable bit.
        executable: bool,
        /// The chunks, in order.
        chunks: Vec<ChunkRef>,
    },
    /// A subdirectory.
    Dir {
        /// Its tree.
        id: TreeId,
        /// Total bytes of files below.
        size: u64,
        /// Number of files and symlinks below.
        files: u64,
    },
    /// A symbolic link (recorded, never followed).
    Symlink {
        /// Link target bytes.
        target: Vec<u8>,
    },
}

/// One named entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File name (one path component, raw bytes).
    pub name: Vec<u8>,
    /// Content.
    pub kind: EntryKind,
}

impl Entry {
    /// Bytes below this entry (file size, directory total, 0 for links).
    pub fn size(&self) -> u64 {
        match &self.kind {
            EntryKind::File { size, .. } | EntryKind::Dir { size, .. } => *size,
            EntryKind::Symlink { .. } => 0,
        }
    }
    /// Files below this entry (1 for a file or link).
    pub fn files(&self) -> u64 {
        match &self.kind {
            EntryKind::Dir { files, .. } => *files,
            _ => 1,
        }
    }
}

/// A directory listing. Entries are sorted by name bytes, names are unique and valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: Vec<Entry>,
}

/// Rejects names that could escape the dataset or collide with repository internals.
pub fn validate_name(name: &[u8]) -> Result<()> {
    let bad = |why| {
        Err(Error::BadName {
            name: String::from_utf8_lossy(name).into_owned(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty name");
    }
    if name == b"." || name == b".." {
        return bad("`.` and `..` are not allowed");
    }
    if name.contains(&b'/') || name.contains(&0) || name.contains(&b'\\') {
        return bad("contains a path separator or NUL byte");
    }
    if name.eq_ignore_ascii_case(b".git") || name.eq_ignore_ascii_case(b".dvx") {
        return bad("`.git` and `.dvx` are reserved");
    }
    if name.len() > MAX_NAME {
        return bad("name is too long");
    }
    Ok(())
}

impl Tree {
    /// Builds a tree from entries: sorts them, rejects invalid or duplicate names and
    /// anything else [`Tree::decode`] would refuse, so every tree built here can be read back.
    pub fn new(mut entries: Vec<Entry>) -> Result<Tree> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        if entries.len() as u64 > MAX_ENTRIES {
            return Err(Error::BadTree(format!(
                "{} entries in one directory; at most {MAX_ENTRIES} are allowed",
                entries.len()
            )));
        }
        for e in &entries {
            validate_name(&e.name)?;
            validate_kind(&e.name, &e.kind)?;
        }
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::BadTree(format!(
                "duplicate entry {:?}",
                String::from_utf8_lossy(&w[0].name)
            )));
        }
        Ok(Tree { entries })
    }

    /// Entries, sorted by name.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Finds an entry by name.
    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Total bytes of files below.
    pub fn size(&self) -> u64 {
        // Sizes come from untrusted bytes: saturate rather than overflow.
        self.entries
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(e.size()))
    }

    /// Number of files and links below.
    pub fn files(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(e.files()))
    }

    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 80);
        out.extend_from_slice(MAGIC);
        out.push(TREE_FORMAT);
        put_varint(&mut out, self.entries.len() as u64);
        for e in &self.entries {
            match &e.kind {
                EntryKind::File {
                    size,
                    digest,
                    executable,
                    chunks,
                } => {
                    out.push(if *executable { 2 } else { 1 });
                    put_bytes(&mut out, &e.name);
                    put_varint(&mut out, *size);
                    out.extend_from_slice(digest.as_bytes());
                    put_varint(&mut out, chunks.len() as u64);
                    for c in chunks {
                        out.extend_from_slice(c.id.as_bytes());
                        put_varint(&mut out, c.len as u64);
                    }
                }
                EntryKind::Dir { id, size, files } => {
                    out.push(3);
                    put_bytes(&mut out, &e.name);
                    put_varint(&mut out, *size);
                    put_varint(&mut out, *files);
                    out.extend_from_slice(id.as_bytes());
                }
                EntryKind::Symlink { target } => {
                    out.push(4);
                    put_bytes(&mut out, &e.name);
                    put_bytes(&mut out, target);
                }
            }
        }
        out
    }

    /// [`Tree::encode`], refused when the encoding is longer than a tree object may be
    /// ([`MAX_TREE_LEN`]): readers would reject it.
    pub fn encode_bounded(&self) -> Result<Vec<u8>> {
        let bytes = self.encode();
        if bytes.len() as u64 > MAX_TREE_LEN {
            return Err(Error::BadTree(format!(
                "the directory's tree would take {} bytes; a tree object holds at most {MAX_TREE_LEN}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// The tree's id: BLAKE3 of [`Tree::encode`].
    pub fn id(&self) -> TreeId {
        TreeId::of(&self.encode())
    }

    /// Decodes and validates untrusted bytes. Only the canonical encoding is accepted, so a
    /// decoded tree re-encodes to the same bytes (and the same id).
    pub fn decode(bytes: &[u8]) -> Result<Tree> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(Error::BadTree("bad magic".into()));
        }
        let version = r.byte()?;
        if version != TREE_FORMAT {
            return Err(Error::BadTree(format!(
                "tree format {version} is not supported (this dvx reads {TREE_FORMAT}); upgrade dvx"
            )));
        }
        let count = r.varint()?;
        if count > MAX_ENTRIES || count > bytes.len() as u64 {
            return Err(Error::BadTree(format!("absurd entry count {count}")));
        }
        let mut entries = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let tag = r.byte()?;
            let name = r.bytes(MAX_NAME)?.to_vec();
            validate_name(&name)?;
            let kind = match tag {
                1 | 2 => {
                    let size = r.varint()?;
                    let digest = Digest::from_slice(r.take(32)?).expect("32 bytes");
                    let n = r.varint()?;
                    if n > MAX_CHUNKS || n > (bytes.len() - r.at) as u64 / 33 {
                        return Err(Error::BadTree(format!("absurd chunk count {n}")));
                    }
                    let mut chunks = Vec::with_capacity(n as usize);
                    let mut total = 0u64;
                    for _ in 0..n {
                        let id = ChunkId::from_slice(r.take(32)?).expect("32 bytes");
                        let len = r.varint()?;
                        if len == 0 || len > u32::MAX as u64 {
                            return Err(Error::BadTree("chunk length out of range".into()));
                        }
                        total += len;
                        chunks.push(ChunkRef {
                            id,
                            len: len as u32,
                        });
                    }
                    if total != size {
                        return Err(Error::BadTree(format!(
                            "file {:?}: chunk lengths add up to {total}, not its size {size}",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    EntryKind::File {
                        size,
                        digest,
                        executable: tag == 2,
                        chunks,
                    }
                }
                3 => {
                    let size = r.varint()?;
                    let files = r.varint()?;
                    let id = TreeId::from_slice(r.take(32)?).expect("32 bytes");
                    EntryKind::Dir { id, size, files }
                }
                4 => {
                    let target = r.bytes(MAX_LINK)?.to_vec();
                    if target.is_empty() || target.contains(&0) {
                        return Err(Error::BadTree(
                            "empty symlink target or NUL byte in it".into(),
                        ));
                    }
                    EntryKind::Symlink { target }
                }
                t => return Err(Error::BadTree(format!("unknown entry kind {t}"))),
            };
            if let Some(prev) = entries.last() {
                let prev: &Entry = prev;
                if prev.name >= name {
                    return Err(Error::BadTree(format!(
                        "entries not sorted or duplicate name {:?}",
                        String::from_utf8_lossy(&name)
                    )));
                }
            }
            entries.push(Entry { name, kind });
        }
        if r.at != bytes.len() {
            return Err(Error::BadTree("trailing bytes".into()));
        }
        Ok(Tree { entries })
    }
}

/// The per-entry rules of [`Tree::decode`] that the encoding alone does not enforce.
fn validate_kind(name: &[u8], kind: &EntryKind) -> Result<()> {
    let what = || String::from_utf8_lossy(name).into_owned();
    match kind {
        EntryKind::File { size, chunks, .. } => {
            if chunks.len() as u64 > MAX_CHUNKS {
                return Err(Error::BadTree(format!(
                    "file {:?} has {} chunks; at most {MAX_CHUNKS} are allowed",
                    what(),
                    chunks.len()
                )));
            }
            if chunks.iter().any(|c| c.len == 0) {
                return Err(Error::BadTree(format!("file {:?}: empty chunk", what())));
            }
            let total = chunks
                .iter()
                .fold(0u64, |acc, c| acc.saturating_add(u64::from(c.len)));
            if total != *size {
                return Err(Error::BadTree(format!(
                    "file {:?}: chunk lengths add up to {total}, not its size {size}",
                    what()
                )));
            }
        }
        EntryKind::Symlink { target } => {
            if target.is_empty() || target.contains(&0) || target.len() > MAX_LINK {
                return Err(Error::BadTree(format!(
                    "symlink {:?}: its target must be 1 to {MAX_LINK} bytes without NUL (it has {})",
                    what(),
                    target.len()
                )));
            }
        }
        EntryKind::Dir { .. } => {}
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.at < n {
            return Err(Error::BadTree("truncated".into()));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(Error::BadTree("varint overflow".into()));
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(Error::BadTree("non-canonical varint".into()));
                }
                return Ok(v);
            }
        }
        Err(Error::BadTree("varint too long".into()))
    }
    fn bytes(&mut self, max: usize) -> Result<&'a [u8]> {
        let n = self.varint()?;
        if n > max as u64 {
            return Err(Error::BadTree(format!("length {n} exceeds {max}")));
        }
        self.take(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &[u8], exec: bool) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind: EntryKind::File {
                size: content.len() as u64,
                digest: Digest::of(content),
                executable: exec,
                chunks: if content.is_empty() {
                    vec![]
                } else {
                    vec![ChunkRef {
                        id: ChunkId::of(content),
                        len: content.len() as u32,
                    }]
                },
            },
        }
    }

    #[test]
    fn round_trip_and_canonical() {
        let sub = Tree::new(vec![file("x", b"xx", false)]).expect("tree");
        let t = Tree::new(vec![
            file("b.csv", b"1,2\n", false),
            file("a.sh", b"#!/bin/sh\n", true),
            file("empty", b"", false),
            Entry {
                name: "dir".into(),
                kind: EntryKind::Dir {
                    id: sub.id(),
                    size: 2,
                    files: 1,
                },
            },
            Entry {
                name: "link".into(),
                kind: EntryKind::Symlink {
                    target: b"b.csv".to_vec(),
                },
            },
            file("données-日本", b"u", false),
        ])
        .expect("tree");
        let enc = t.encode();
        let back = Tree::decode(&enc).expect("decode");
        assert_eq!(back, t);
        assert_eq!(back.id(), t.id());
        assert_eq!(t.entries()[0].name, b"a.sh");
        assert_eq!(t.size(), 4 + 10 + 2 + 1);
    }

    #[test]
    fn hostile_trees_rejected() {
        for name in ["..", ".", "a/b", ".git", ".DVX", "", "a\0b"] {
            assert!(
                Tree::new(vec![file(name, b"x", false)]).is_err(),
                "{name:?}"
            );
        }
        assert!(Tree::new(vec![file("a", b"x", false), file("a", b"y", false)]).is_err());
        // Hand-crafted encodings: bad name, duplicates, size mismatch, trailing bytes.
        let good = Tree::new(vec![file("a", b"x", false)])
            .expect("tree")
            .encode();
        let mut evil = good.clone();
        let pos = evil.iter().position(|&b| b == b'a').expect("name byte");
        evil[pos] = b'/';
        assert!(Tree::decode(&evil).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Tree::decode(&trailing).is_err());
        let mut huge = good.clone();
        huge[5] = 0xff;
        assert!(Tree::decode(&huge).is_err());
        for cut in 0..good.len() {
            assert!(Tree::decode(&good[..cut]).is_err());
        }
    }

    /// Every bound `Tree::new` (the encoder side, used by `add`) applies is the one
    /// `Tree::decode` applies: at the limit both accept, one past it both refuse.
    #[test]
    fn encoder_and_decoder_share_every_limit() {
        use crate::limits::{MAX_LINK, MAX_NAME};
        let link = |name: Vec<u8>, target: Vec<u8>| Entry {
            name,
            kind: EntryKind::Symlink { target },
        };
        // Accepted by both sides at the limit.
        for e in [
            link(vec![b'n'; MAX_NAME], b"t".to_vec()),
            link(b"l".to_vec(), vec![b't'; MAX_LINK]),
        ] {
            let t = Tree::new(vec![e]).expect("at the limit");
            assert_eq!(Tree::decode(&t.encode()).expect("decodes"), t);
        }
        // Refused by both sides one past it (the encoding is crafted by hand, since the
        // encoder refuses to build it).
        let crafted = |e: &Entry| {
            let mut out = MAGIC.to_vec();
            out.push(TREE_FORMAT);
            put_varint(&mut out, 1);
            let EntryKind::Symlink { target } = &e.kind else {
                unreachable!("links only")
            };
            out.push(4);
            put_bytes(&mut out, &e.name);
            put_bytes(&mut out, target);
            out
        };
        for e in [
            link(vec![b'n'; MAX_NAME + 1], b"t".to_vec()),
            link(b"l".to_vec(), vec![b't'; MAX_LINK + 1]),
            link(b"l".to_vec(), Vec::new()),
            link(b"l".to_vec(), b"a\0b".to_vec()),
            link(b"a\\b".to_vec(), b"t".to_vec()),
        ] {
            assert!(Tree::new(vec![e.clone()]).is_err(), "encoder took {e:?}");
            assert!(Tree::decode(&crafted(&e)).is_err(), "decoder took {e:?}");
        }
        // Files: chunk lengths must add up to the size and none may be empty.
        let mut f = file("f", b"abc", false);
        if let EntryKind::File { size, .. } = &mut f.kind {
            *size = 4;
        }
        assert!(Tree::new(vec![f.clone()]).is_err());
        let mut bytes = Tree { entries: vec![f] }.encode();
        assert!(Tree::decode(&bytes).is_err());
        let mut empty = file("e", b"x", false);
        if let EntryKind::File { chunks, size, .. } = &mut empty.kind {
            chunks[0].len = 0;
            *size = 0;
        }
        assert!(Tree::new(vec![empty.clone()]).is_err());
        bytes = Tree {
            entries: vec![empty],
        }
        .encode();
        assert!(Tree::decode(&bytes).is_err());
    }
}
