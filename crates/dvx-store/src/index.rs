//! Index files: immutable, sorted by chunk id, with a 256-entry fan-out table, memory-mapped so
//! a lookup touches a few pages and never loads the whole index. Byte layout: docs/FORMAT.md.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::{ChunkId, PackId};
use crate::pack::{Compression, PackEntry, MAX_CHUNK_LEN};

mod bounded;
mod merge;
pub use bounded::Window;
pub use merge::{write_merged, Merged};

/// First 8 bytes of every index file.
pub const MAGIC: &[u8; 8] = b"DVXIDX\0\0";
/// Index format version.
pub const VERSION: u32 = 1;
/// Bytes of the header ([`file_len_from_header`] reads them).
pub const HEADER_LEN: usize = 24;
const FANOUT_LEN: usize = 256 * 4;
/// One entry: id 32, pack number u32, offset u64, stored_len u32, raw_len u32, compression u8, pad 3.
pub const ENTRY_LEN: usize = 56;
const CHECKSUM_LEN: usize = 32;
/// Index files up to this size are checksummed completely when opened.
const VERIFY_ON_OPEN_LIMIT: usize = 32 << 20;
/// Index files mapped together up to this size stay resident: the common case, and fastest.
const RESIDENT_BUDGET: usize = if cfg!(test) { 64 << 10 } else { 64 << 20 };
/// Entries a bounded lookup reads at once around its guess (7 KiB): ids are hashes, so the
/// guess is rarely more than a few dozen entries off in a bucket of millions.
const WINDOW: usize = if cfg!(test) { 8 } else { 128 };
/// Bytes a checksum pass reads at once.
const VERIFY_CHUNK: usize = 1 << 20;

/// Makes the files of one index set read by `pread` rather than through their mappings when
/// together they are larger than [`RESIDENT_BUDGET`], so that lookups and passes in a huge
/// store keep resident memory bounded: a lookup reads one small window around its guess, and
/// a pass hands the mapped pages behind it back. Mapped pages would otherwise stay resident
/// (the kernel maps a folio of up to 1 MiB around each page touched).
///
/// Only such files keep their file open (for `pread`): a small set holds no descriptor,
/// whatever its number of files.
pub fn bound_residency(files: &mut [IndexFile]) {
    let total: usize = files.iter().map(|f| f.map.len()).sum();
    for f in files {
        if total > RESIDENT_BUDGET {
            f.hand_back = true;
            f.release();
        } else {
            f.file = None;
        }
    }
}

/// Where a chunk is: pack and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The pack file.
    pub pack: PackId,
    /// Offset of the stored bytes.
    pub offset: u64,
    /// Stored length.
    pub stored_len: u32,
    /// Uncompressed length.
    pub raw_len: u32,
    /// Encoding.
    pub compression: Compression,
}

impl Location {
    /// Where `entry` of `pack` is.
    pub fn of(pack: PackId, entry: &PackEntry) -> Location {
        Location {
            pack,
            offset: entry.offset,
            stored_len: entry.stored_len,
            raw_len: entry.raw_len,
            compression: entry.compression,
        }
    }

    /// The pack entry of chunk `id` at this location.
    pub fn entry(&self, id: ChunkId) -> PackEntry {
        PackEntry {
            id,
            offset: self.offset,
            stored_len: self.stored_len,
            raw_len: self.raw_len,
            compression: self.compression,
        }
    }
}

/// Writes an index file for `entries` into `dir`, named `<blake3 of contents>.idx`.
/// Duplicate ids keep the first location. Returns the path.
pub fn write_index(dir: &Path, mut entries: Vec<(ChunkId, Location)>) -> Result<PathBuf> {
    entries.sort_by_key(|e| e.0);
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut packs: Vec<PackId> = entries.iter().map(|(_, l)| l.pack).collect();
    packs.sort();
    packs.dedup();
    let mut out = Vec::with_capacity(
        HEADER_LEN + FANOUT_LEN + packs.len() * 32 + entries.len() * ENTRY_LEN + CHECKSUM_LEN,
    );
    let mut fanout = [0u32; 256];
    for (id, _) in &entries {
        fanout[id.0[0] as usize] += 1;
    }
    put_head(&mut out, &packs, entries.len() as u64, &fanout);
    for (id, loc) in &entries {
        put_entry(&mut out, id, &packs, loc);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    let path = dir.join(format!("{}.idx", sum.to_hex()));
    // Same name means same content, unless the existing file is damaged: then replace it.
    if sfs::read_bounded(&path, out.len() as u64).ok().as_deref() != Some(&out[..]) {
        sfs::write_atomic(&path, &out)?;
    }
    Ok(path)
}

/// Appends the header, the cumulative fan-out of the per-first-byte `counts`, and the pack
/// table.
fn put_head(out: &mut Vec<u8>, packs: &[PackId], count: u64, counts: &[u32; 256]) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    let mut acc = 0u32;
    for f in counts {
        acc += *f;
        out.extend_from_slice(&acc.to_le_bytes());
    }
    for p in packs {
        out.extend_from_slice(p.as_bytes());
    }
}

/// Appends one entry; `packs` is the sorted pack table and holds `loc.pack`.
fn put_entry(out: &mut Vec<u8>, id: &ChunkId, packs: &[PackId], loc: &Location) {
    let pack_no = packs.binary_search(&loc.pack).expect("pack listed above") as u32;
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&pack_no.to_le_bytes());
    out.extend_from_slice(&loc.offset.to_le_bytes());
    out.extend_from_slice(&loc.stored_len.to_le_bytes());
    out.extend_from_slice(&loc.raw_len.to_le_bytes());
    out.push(match loc.compression {
        Compression::None => 0,
        Compression::Zstd => 1,
    });
    out.extend_from_slice(&[0, 0, 0]);
}

/// The length an index file must have according to its first [`HEADER_LEN`] bytes, or None
/// if they are not an index header this version reads. Bounds the download of an untrusted
/// index before its bytes arrive.
pub fn file_len_from_header(header: &[u8]) -> Option<u64> {
    if header.len() < HEADER_LEN || &header[..8] != MAGIC {
        return None;
    }
    if u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) != VERSION {
        return None;
    }
    let npacks = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes")) as u64;
    let count = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    count
        .checked_mul(ENTRY_LEN as u64)?
        .checked_add(npacks * 32 + (HEADER_LEN + FANOUT_LEN + CHECKSUM_LEN) as u64)
}

/// An opened, memory-mapped index file.
pub struct IndexFile {
    path: PathBuf,
    /// Open for `pread`: always in a set [`bound_residency`] bounds, dropped in others.
    file: Option<std::fs::File>,
    map: memmap2::Mmap,
    packs: Vec<PackId>,
    count: usize,
    entries_at: usize,
    fanout: [u32; 256],
    /// Set by [`bound_residency`]: lookups read by `pread`, passes hand their pages back.
    hand_back: bool,
    /// Hand-backs so far (tests count them).
    #[cfg(test)]
    releases: std::sync::atomic::AtomicUsize,
}

impl IndexFile {
    /// Opens and validates an index file.
    pub fn open(path: &Path) -> Result<IndexFile> {
        // A FIFO or device in place of an index is a damaged index (skipped, reported by
        // fsck), never a read that blocks.
        let (file, _) = sfs::open_regular(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::CorruptIndex {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }
            } else {
                Error::io("open", path, e)
            }
        })?;
        // SAFETY: index files are immutable once renamed into place (written to a temporary
        // file, fsynced, renamed) and are only ever deleted, never modified in place, so the
        // mapping cannot change under us. Every offset read below is bounds-checked against
        // the mapping's length.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
        let bad = |detail: &str| Error::CorruptIndex {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        if map.len() < HEADER_LEN + FANOUT_LEN + CHECKSUM_LEN || &map[..8] != MAGIC {
            return Err(bad("not an index file (bad magic or too short)"));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(&format!(
                "index version {version} is not supported; upgrade dvx"
            )));
        }
        let npacks = u32::from_le_bytes(map[12..16].try_into().expect("4 bytes")) as usize;
        let count = u64::from_le_bytes(map[16..24].try_into().expect("8 bytes"));
        let entries_at = HEADER_LEN + FANOUT_LEN + npacks.saturating_mul(32);
        let expected = (count as u128) * ENTRY_LEN as u128 + (entries_at + CHECKSUM_LEN) as u128;
        if expected != map.len() as u128 {
            return Err(bad("size does not match the header"));
        }
        let count = count as usize;
        // Read, not mapped: hashing through the mapping would leave every page resident.
        if map.len() <= VERIFY_ON_OPEN_LIMIT && !checksum_ok(&file, path, map.len())? {
            return Err(bad("checksum mismatch"));
        }
        let mut fanout = [0u32; 256];
        for (i, f) in fanout.iter_mut().enumerate() {
            let at = HEADER_LEN + i * 4;
            *f = u32::from_le_bytes(map[at..at + 4].try_into().expect("4 bytes"));
        }
        if fanout.windows(2).any(|w| w[0] > w[1]) || fanout[255] as usize != count {
            return Err(bad("fan-out table is not monotonic"));
        }
        let packs = (0..npacks)
            .map(|i| {
                let at = HEADER_LEN + FANOUT_LEN + i * 32;
                PackId::from_slice(&map[at..at + 32]).expect("32 bytes")
            })
            .collect();
        let f = IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            map,
            packs,
            count,
            entries_at,
            fanout,
            hand_back: false,
            #[cfg(test)]
            releases: Default::default(),
        };
        Ok(f)
    }

    /// Hands the mapped pages back: they stay in the page cache. Only advice, so a refusal
    /// changes nothing.
    #[allow(unsafe_code)]
    fn release(&self) {
        #[cfg(test)]
        self.releases
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: a read-only shared mapping of an immutable file: a dropped page is read
        // back from the file on its next touch, with the same bytes.
        #[cfg(unix)]
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the index has no entry.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Packs referenced by this index.
    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    fn id_at(&self, i: usize) -> &[u8] {
        let at = self.entries_at + i * ENTRY_LEN;
        &self.map[at..at + 32]
    }

    fn entry(&self, i: usize) -> Result<(ChunkId, Location)> {
        let at = self.entries_at + i * ENTRY_LEN;
        self.parse_entry(&self.map[at..at + ENTRY_LEN])
    }

    fn parse_entry(&self, e: &[u8]) -> Result<(ChunkId, Location)> {
        let bad = |detail: &str| Error::CorruptIndex {
            path: self.path.clone(),
            detail: detail.to_string(),
        };
        let pack_no = u32::from_le_bytes(e[32..36].try_into().expect("4 bytes")) as usize;
        let pack = *self
            .packs
            .get(pack_no)
            .ok_or_else(|| bad("pack number out of range"))?;
        let raw_len = u32::from_le_bytes(e[48..52].try_into().expect("4 bytes"));
        if raw_len > MAX_CHUNK_LEN {
            return Err(bad("absurd chunk length"));
        }
        let offset = u64::from_le_bytes(e[36..44].try_into().expect("8 bytes"));
        let stored_len = u32::from_le_bytes(e[44..48].try_into().expect("4 bytes"));
        // Offsets come from untrusted files (remote indexes): the end must not overflow.
        if offset
            .checked_add(stored_len as u64)
            .is_none_or(|end| end > u64::MAX / 2)
        {
            return Err(bad("chunk offset out of range"));
        }
        Ok((
            ChunkId::from_slice(&e[..32]).expect("32 bytes"),
            Location {
                pack,
                offset,
                stored_len,
                raw_len,
                compression: Compression::from_byte(e[52])
                    .ok_or_else(|| bad("unknown compression"))?,
            },
        ))
    }

    /// Finds a chunk in its fan-out bucket. Ids are BLAKE3 hashes, spread evenly, so the id's
    /// next bytes say about where in the bucket it sits: the search starts there and widens
    /// by doubling steps before it bisects. It reads the few pages near the guess, and never
    /// takes more than about twice a plain bisection's steps, whatever the ids.
    pub fn lookup(&self, id: &ChunkId) -> Result<Option<Location>> {
        let Some((start, end, guess)) = self.bucket(id) else {
            return Ok(None);
        };
        let key = &id.0[..];
        if self.hand_back {
            return self.lookup_read(key, guess, start, end, None);
        }
        let at = self.lower_bound(key, guess, start, end);
        if at < end && self.id_at(at) == key {
            return self.entry(at).map(|(_, l)| Some(l));
        }
        Ok(None)
    }

    /// The first position in `lo..hi` whose id is not below `key` (`hi` if none), searched
    /// outwards from `guess`. Invariant: ids before `lo` are below `key`, ids from `hi` on
    /// are not.
    fn lower_bound(&self, key: &[u8], guess: usize, mut lo: usize, mut hi: usize) -> usize {
        let head = u64::from_be_bytes(key[..8].try_into().expect("an id is 32 bytes"));
        let below = |i: usize| self.below(i, key, head);
        let g = guess.clamp(lo, hi - 1);
        let mut step = 1;
        if below(g) {
            lo = g + 1;
            while lo + step - 1 < hi {
                let p = lo + step - 1;
                if below(p) {
                    lo = p + 1;
                    step *= 2;
                } else {
                    hi = p;
                    break;
                }
            }
        } else {
            hi = g;
            while step <= hi - lo {
                let p = hi - step;
                if !below(p) {
                    hi = p;
                    step *= 2;
                } else {
                    lo = p + 1;
                    break;
                }
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Whether the id of entry `i` sorts below `key`, whose first 8 bytes are `head`: those
    /// bytes are compared as one number, the rest only on a tie (ids are hashes: rarely).
    /// A byte-slice comparison per step was most of a lookup's time.
    fn below(&self, i: usize, key: &[u8], head: u64) -> bool {
        let id = self.id_at(i);
        let at = u64::from_be_bytes(id[..8].try_into().expect("an id is 32 bytes"));
        match at.cmp(&head) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => id[8..] < key[8..],
        }
    }

    /// The entries `start..end` whose first id byte is `id`'s, and the place in them the
    /// id's next bytes predict; None when there are none.
    fn bucket(&self, id: &ChunkId) -> Option<(usize, usize, usize)> {
        let b = id.0[0] as usize;
        let start = if b == 0 {
            0
        } else {
            self.fanout[b - 1] as usize
        };
        let end = self.fanout[b] as usize;
        if start >= end {
            return None;
        }
        let frac = u64::from_be_bytes(id.0[1..9].try_into().expect("8 bytes"));
        Some((
            start,
            end,
            start + ((frac as u128 * (end - start) as u128) >> 64) as usize,
        ))
    }

    /// Every entry, in id order.
    pub fn entries(&self) -> Result<Vec<(ChunkId, Location)>> {
        self.iter().collect()
    }

    /// Every entry, in id order, read from the mapped file one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Result<(ChunkId, Location)>> + '_ {
        (0..self.count).map(|i| {
            let e = self.entry(i);
            self.passed(i);
            e
        })
    }

    /// Hands the mapped pages back now, if asked to ([`bound_residency`]): a merge of many
    /// files calls it on all of them as it goes.
    pub(crate) fn hand_back_now(&self) {
        if self.hand_back {
            self.release();
        }
    }

    /// Called by a front-to-back pass once it has read entry `i`: hands the pages behind it
    /// back every 65,536 entries and after the last, when asked to ([`bound_residency`]). A
    /// remote's index is a hundred files at 10M chunks: the tail of each, kept, added up to
    /// 245 MB.
    pub(crate) fn passed(&self, i: usize) {
        if self.hand_back && ((i + 1) % (1 << 16) == 0 || i + 1 == self.count) {
            self.release();
        }
    }

    /// Recomputes the checksum of the whole file (fsck).
    pub fn verify(&self) -> Result<bool> {
        match &self.file {
            Some(file) => checksum_ok(file, &self.path, self.map.len()),
            None => {
                let (file, _) =
                    sfs::open_regular(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
                checksum_ok(&file, &self.path, self.map.len())
            }
        }
    }
}

/// True when the last [`CHECKSUM_LEN`] bytes of the `len`-byte index `file` are the BLAKE3
/// hash of the bytes before them. Read in pieces, so nothing of the file stays resident.
fn checksum_ok(file: &std::fs::File, path: &Path, len: usize) -> Result<bool> {
    let body = len - CHECKSUM_LEN;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; VERIFY_CHUNK.min(body.max(CHECKSUM_LEN))];
    let mut at = 0;
    while at < body {
        let n = (body - at).min(buf.len());
        sfs::read_exact_at(file, path, &mut buf[..n], at as u64)?;
        hasher.update(&buf[..n]);
        at += n;
    }
    let mut sum = [0u8; CHECKSUM_LEN];
    sfs::read_exact_at(file, path, &mut sum, body as u64)?;
    Ok(hasher.finalize().as_bytes() == &sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The place of a one-byte chunk at offset `i` of `pack`.
    fn one_byte_at(pack: PackId, i: u32) -> Location {
        Location {
            pack,
            offset: i as u64,
            stored_len: 1,
            raw_len: 1,
            compression: Compression::None,
        }
    }

    /// A front-to-back pass over a file read by `pread` hands its pages back every 65,536
    /// entries and after the last one, so no file keeps its tail resident.
    #[test]
    fn a_pass_hands_its_pages_back_after_the_last_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pack = PackId::of(b"p");
        for (n, want) in [(2_000u32, 1), ((1 << 16) + 5, 2), (1 << 17, 2)] {
            let entries: Vec<_> = (0..n)
                .map(|i| {
                    let id = ChunkId::of(&[&n.to_le_bytes()[..], &i.to_le_bytes()].concat());
                    (id, one_byte_at(pack, i))
                })
                .collect();
            let path = write_index(dir.path(), entries).expect("write");
            let mut files = [IndexFile::open(&path).expect("open")];
            bound_residency(&mut files);
            let [idx] = files;
            assert!(idx.hand_back, "{n} entries: over the test budget");
            let before = idx.releases.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(idx.iter().count(), n as usize);
            let after = idx.releases.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(after - before, want, "{n} entries");
        }
    }

    #[test]
    fn write_open_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pack = PackId::of(b"p");
        let entries: Vec<_> = (0..1000u32)
            .map(|i| {
                (
                    ChunkId::of(&i.to_le_bytes()),
                    Location {
                        pack,
                        offset: i as u64 * 10,
                        stored_len: i,
                        raw_len: i + 1,
                        compression: Compression::Zstd,
                    },
                )
            })
            .collect();
        let path = write_index(dir.path(), entries.clone()).expect("write");
        let mut files = [IndexFile::open(&path).expect("open")];
        // A set small enough to stay mapped holds no open file.
        bound_residency(&mut files);
        let [idx] = files;
        assert!(idx.file.is_none() && !idx.hand_back);
        assert_eq!(idx.len(), 1000);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(
            file_len_from_header(&bytes[..HEADER_LEN]),
            Some(bytes.len() as u64)
        );
        assert_eq!(file_len_from_header(&[0u8; HEADER_LEN]), None);
        assert!(idx.verify().expect("verify"));
        for (id, loc) in &entries {
            assert_eq!(idx.lookup(id).expect("lookup"), Some(*loc));
        }
        assert_eq!(idx.lookup(&ChunkId::of(b"absent")).expect("lookup"), None);
        // A flipped byte is detected on open.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[2000] ^= 1;
        let bad = dir.path().join("bad.idx");
        std::fs::write(&bad, &bytes).expect("write");
        assert!(IndexFile::open(&bad).is_err());
    }

    /// Every id is found and no other, however the ids spread: evenly (hashes), bunched at
    /// one guess, or split between the two ends of each bucket; through a file large enough
    /// to hand its pages back every few hundred lookups.
    #[test]
    fn lookups_find_every_id_however_the_ids_spread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pack = PackId::of(b"p");
        type MakeId = fn(u32) -> ChunkId;
        let spreads: [(&str, MakeId); 3] = [
            ("even", |i| ChunkId::of(&i.to_le_bytes())),
            ("bunched", |i| {
                let mut id = [0x77u8; 32];
                id[0] = (i % 3) as u8;
                id[24..28].copy_from_slice(&i.to_be_bytes());
                ChunkId(id)
            }),
            ("both ends", |i| {
                let mut id = ChunkId::of(&i.to_le_bytes()).0;
                let end = if i % 2 == 0 { 0x00 } else { 0xff };
                id[1..9].copy_from_slice(&[end; 8]);
                ChunkId(id)
            }),
        ];
        for (what, make) in spreads {
            let entries: Vec<_> = (0..6000u32)
                .map(|i| (make(i), one_byte_at(pack, i)))
                .collect();
            let sub = dir.path().join(what);
            std::fs::create_dir_all(&sub).expect("mkdir");
            let path = write_index(&sub, entries.clone()).expect("write");
            let mut files = [
                IndexFile::open(&path).expect("open"),
                IndexFile::open(&path).expect("open"),
            ];
            bound_residency(&mut files[1..]);
            assert!(files[1].hand_back, "{what}: large enough to read by pread");
            let ids: std::collections::HashMap<ChunkId, Location> =
                entries.iter().copied().collect();
            for idx in &files {
                let how = if idx.hand_back { "read" } else { "mapped" };
                for (id, loc) in &entries {
                    assert_eq!(idx.lookup(id).expect("lookup"), Some(*loc), "{what} {how}");
                    // Neighbours on both sides, and past either end of the bucket.
                    for (byte, flip) in [(31, 0x80), (8, 0x01), (1, 0xff)] {
                        let mut near = id.0;
                        near[byte] ^= flip;
                        if !ids.contains_key(&ChunkId(near)) {
                            let got = idx.lookup(&ChunkId(near)).expect("lookup");
                            assert_eq!(got, None, "{what} {how}");
                        }
                    }
                }
                // Ascending, as a sorted stream asks: every id and its neighbours in order,
                // through one window, answer as lookups one at a time do.
                let mut asked: Vec<ChunkId> = entries.iter().map(|e| e.0).collect();
                for (id, _) in &entries {
                    for (byte, flip) in [(31, 0x01), (20, 0x40)] {
                        let mut near = id.0;
                        near[byte] ^= flip;
                        asked.push(ChunkId(near));
                    }
                }
                asked.sort();
                let mut window = Window::default();
                for id in &asked {
                    let want = ids.get(id).copied();
                    let got = idx.lookup_ascending(id, &mut window).expect("lookup");
                    assert_eq!(got, want, "{what} {how} ascending");
                }
            }
        }
    }
}
