//! Pack files: chunks appended one after another, then a trailer that lists every chunk
//! (id, offset, lengths, compression), so a pack describes itself and any index can be rebuilt
//! from packs alone. Byte layout: docs/FORMAT.md, "Pack file".

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{self as sfs, AtomicFile};
use crate::id::{ChunkId, PackId};

/// First 8 bytes of every pack.
pub const MAGIC: &[u8; 8] = b"DVXPACK\0";
/// Last 8 bytes of every pack.
pub const END_MAGIC: &[u8; 8] = b"DVXPEND\0";
/// Pack format version written. Version 2 names a pack by the hash of its trailer (which
/// lists every chunk's id, place and lengths, and must tile the data area exactly); version 1
/// (still read) named it by the hash of the whole file, which cost a second pass over every
/// byte written.
pub const VERSION: u32 = 2;
/// Header: magic, version u32, reserved u32.
pub const HEADER_LEN: u64 = 16;
/// One trailer entry: id 32, offset u64, stored_len u32, raw_len u32, compression u8, 3 pad.
pub const ENTRY_LEN: usize = 52;
/// Footer: trailer offset u64, entry count u64, BLAKE3 of the trailer entries, end magic.
pub const FOOTER_LEN: usize = 56;
/// Upper bound of a chunk's uncompressed length (guards decompression of untrusted data).
pub const MAX_CHUNK_LEN: u32 = 16 << 20;

/// How a chunk is stored in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as is (compression did not pay).
    None,
    /// zstd frame.
    Zstd,
}

impl Compression {
    /// The on-disk byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
        }
    }
    /// Parses the on-disk byte.
    pub fn from_byte(b: u8) -> Option<Compression> {
        match b {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Where a chunk lives inside its pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackEntry {
    /// The chunk.
    pub id: ChunkId,
    /// Byte offset of the stored bytes in the pack file.
    pub offset: u64,
    /// Stored (possibly compressed) length.
    pub stored_len: u32,
    /// Uncompressed length.
    pub raw_len: u32,
    /// Storage encoding.
    pub compression: Compression,
}

impl PackEntry {
    /// The entry as a pack's trailer lists it (docs/FORMAT.md section 4).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.stored_len.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
        out.push(self.compression.to_byte());
        out.extend_from_slice(&[0, 0, 0]);
    }
}

/// Path of a pack inside a store's `packs/` directory: `packs/<2 hex>/<64 hex>.pack`.
pub fn pack_path(packs_dir: &Path, id: &PackId) -> PathBuf {
    let hex = id.to_hex();
    packs_dir.join(&hex[..2]).join(format!("{hex}.pack"))
}

thread_local! {
    // One zstd context per thread and level: creating a context per chunk costs more than
    // compressing a small chunk.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(raw: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, c) = slot.as_mut()?;
        c.compress(raw).ok()
    })
}

fn decompress(stored: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        slot.as_mut()
            .expect("just created")
            .decompress(stored, capacity)
    })
}

/// Whether a chunk looks worth compressing: the order-0 entropy of a sample (up to four
/// 1 KiB windows spread over it) is below [`ENTROPY_LIMIT`]. Text, CSV, JSON and logs sit
/// around 3-6 bits per byte; random bytes, JPEG, zstd or gzip output near 8. About a
/// microsecond per chunk, where trying zstd on an incompressible chunk costs as much as
/// compressing it.
pub fn looks_compressible(raw: &[u8]) -> bool {
    const WINDOW: usize = 1024;
    if raw.len() < 2 * WINDOW {
        // Too few bytes for the estimate (their entropy cannot reach 8 bits), and few enough
        // that trying zstd costs about as little.
        return true;
    }
    let mut counts = [0u32; 256];
    let mut total = 0u32;
    // At least two windows, the first at the start and the last at the end.
    let windows = raw.len().div_ceil(WINDOW).min(4);
    for w in 0..windows {
        let start = (raw.len() - WINDOW) * w / (windows - 1);
        for &b in &raw[start..start + WINDOW] {
            counts[b as usize] += 1;
        }
        total += WINDOW as u32;
    }
    let n = f64::from(total);
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits < ENTROPY_LIMIT
}

/// Bits per byte under which [`looks_compressible`] says yes: random bytes measure about 7.8
/// over a 4 KiB sample, so this leaves a margin for structured binary data.
const ENTROPY_LIMIT: f64 = 7.2;

/// How `add` stores chunks (the store's `zstd_level`, docs/FORMAT.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Compress at level 1 the chunks [`looks_compressible`] picks (`zstd_level = 0`).
    Auto,
    /// Try every chunk at this level (`zstd_level` 1..=22).
    Level(i32),
    /// Store raw (`zstd_level = -1`).
    Never,
}

impl Policy {
    /// The policy of a `zstd_level` setting.
    pub fn of_level(level: i32) -> Policy {
        match level {
            0 => Policy::Auto,
            l if l < 0 => Policy::Never,
            l => Policy::Level(l),
        }
    }

    /// The level to compress `raw` at, if it should be tried.
    pub fn level_for(self, raw: &[u8]) -> Option<i32> {
        match self {
            Policy::Auto => looks_compressible(raw).then_some(AUTO_LEVEL),
            Policy::Level(l) => Some(l),
            Policy::Never => None,
        }
    }
}

/// zstd's fastest level: `push` sends a chunk stored this way as it is (docs/PERFORMANCE.md).
const AUTO_LEVEL: i32 = 1;

/// Compresses `raw` with zstd unless that saves less than 1/32 of the bytes (level 0: never
/// tries). Raw bytes are borrowed, not copied.
pub fn encode_chunk(raw: &[u8], level: i32) -> (Compression, std::borrow::Cow<'_, [u8]>) {
    if level > 0 && raw.len() >= 64 {
        if let Some(c) = compress(raw, level) {
            if c.len() + raw.len() / 32 < raw.len() {
                return (Compression::Zstd, std::borrow::Cow::Owned(c));
            }
        }
    }
    (Compression::None, std::borrow::Cow::Borrowed(raw))
}

/// Decodes stored bytes and verifies them against the chunk id. Decompression is bounded by
/// the declared length, so hostile data cannot make us allocate more.
pub fn decode_chunk(entry: &PackEntry, pack: &PackId, stored: &[u8]) -> Result<Vec<u8>> {
    match entry.compression {
        Compression::None => {
            check_raw(entry, pack, stored)?;
            Ok(stored.to_vec())
        }
        Compression::Zstd => decode_zstd(entry, pack, stored),
    }
}

/// Checks stored bytes against the chunk id, as [`decode_chunk`] does, without keeping a
/// decoded copy.
pub fn verify_chunk(entry: &PackEntry, pack: &PackId, stored: &[u8]) -> Result<()> {
    match entry.compression {
        Compression::None => check_raw(entry, pack, stored),
        Compression::Zstd => decode_zstd(entry, pack, stored).map(drop),
    }
}

/// Like [`decode_chunk`], taking the stored bytes by value: a raw chunk is verified and
/// returned without a copy.
pub fn decode_chunk_owned(entry: &PackEntry, pack: &PackId, stored: Vec<u8>) -> Result<Vec<u8>> {
    match entry.compression {
        Compression::None => {
            check_raw(entry, pack, &stored)?;
            Ok(stored)
        }
        Compression::Zstd => decode_zstd(entry, pack, &stored),
    }
}

fn decode_zstd(entry: &PackEntry, pack: &PackId, stored: &[u8]) -> Result<Vec<u8>> {
    if entry.raw_len > MAX_CHUNK_LEN {
        // Checked before decompressing, which allocates the declared length.
        return check_raw(entry, pack, &[]).map(|_| Vec::new());
    }
    let raw = decompress(stored, entry.raw_len as usize).map_err(|e| Error::CorruptChunk {
        id: entry.id,
        pack: *pack,
        detail: format!("zstd: {e}"),
    })?;
    check_raw(entry, pack, &raw)?;
    Ok(raw)
}

/// Checks decoded bytes against the entry's declared length and id.
fn check_raw(entry: &PackEntry, pack: &PackId, raw: &[u8]) -> Result<()> {
    let corrupt = |detail: String| Error::CorruptChunk {
        id: entry.id,
        pack: *pack,
        detail,
    };
    if entry.raw_len > MAX_CHUNK_LEN {
        return Err(corrupt(format!(
            "declared length {} is absurd",
            entry.raw_len
        )));
    }
    if raw.len() != entry.raw_len as usize {
        return Err(corrupt(format!(
            "length {} != declared {}",
            raw.len(),
            entry.raw_len
        )));
    }
    if ChunkId::of(raw) != entry.id {
        return Err(corrupt("content does not match its hash".into()));
    }
    Ok(())
}

/// The 16 header bytes of a pack written now.
fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The id of a pack holding `entries`: the hash of their encoded list, which is what its
/// trailer holds before the footer.
pub fn pack_id(entries: &[PackEntry]) -> PackId {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for e in entries {
        e.encode(&mut out);
    }
    PackId::from(blake3::hash(&out))
}

/// The trailer entries and footer of a pack whose data area ends at `trailer_offset`, and
/// the pack's id (the BLAKE3 of the entries, also stored in the footer).
fn trailer(entries: &[PackEntry], trailer_offset: u64) -> (Vec<u8>, PackId) {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN + FOOTER_LEN);
    for e in entries {
        e.encode(&mut out);
    }
    let hash = blake3::hash(&out);
    out.extend_from_slice(&trailer_offset.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(END_MAGIC);
    (out, PackId::from(hash))
}

/// Writes a new pack under a temporary name; [`PackBuilder::finish`] names it by the hash of
/// its trailer.
pub struct PackBuilder {
    file: AtomicFile,
    len: u64,
    entries: Vec<PackEntry>,
}

impl PackBuilder {
    /// Starts a pack in `packs_dir` (temporary file there). With `direct`, its bytes go to
    /// the disk without a page-cache copy where the file system allows it (see
    /// [`AtomicFile::create_direct`]); the pack is then not in the page cache afterwards.
    pub fn new(packs_dir: &Path, direct: bool) -> Result<PackBuilder> {
        let dest = packs_dir.join("pending.pack");
        let file = if direct {
            AtomicFile::create_direct(&dest)?
        } else {
            AtomicFile::create(&dest)?
        };
        let mut b = PackBuilder {
            file,
            len: 0,
            entries: Vec::new(),
        };
        b.write(&header())?;
        Ok(b)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no chunk was appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends one stored chunk.
    pub fn append(
        &mut self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> Result<PackEntry> {
        let entry = PackEntry {
            id,
            offset: self.len,
            stored_len: u32::try_from(stored.len()).expect("chunks are far below 4 GiB"),
            raw_len,
            compression,
        };
        self.write(stored)?;
        self.entries.push(entry);
        Ok(entry)
    }

    /// Writes the trailer, fsyncs and renames the pack to `packs/<hh>/<id>.pack`.
    pub fn finish(mut self, packs_dir: &Path) -> Result<(PackId, Vec<PackEntry>)> {
        let (trailer, id) = trailer(&self.entries, self.len);
        self.write(&trailer)?;
        let dest = pack_path(packs_dir, &id);
        let dir = dest.parent().expect("pack path has a parent");
        sfs::create_dir_all(dir)?;
        // The temporary file is in packs/, the same file system as packs/<hh>/, so the
        // rename is atomic.
        self.file.set_dest(dest);
        self.file.commit()?;
        Ok((id, self.entries))
    }
}

/// Reads and validates the trailer of the pack at `path`.
pub fn read_trailer(file: &File, path: &Path) -> Result<Vec<PackEntry>> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    read_trailer_with(path, len, |buf, offset| {
        sfs::read_exact_at(file, path, buf, offset)
    })
}

/// Reads and validates a pack trailer through `read(buf, offset)` (a local file or ranged
/// reads of a remote object); `path` names the pack in errors.
pub fn read_trailer_with(
    path: &Path,
    len: u64,
    mut read: impl FnMut(&mut [u8], u64) -> Result<()>,
) -> Result<Vec<PackEntry>> {
    let bad = |detail: &str| Error::CorruptPack {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    if len < HEADER_LEN + FOOTER_LEN as u64 {
        return Err(bad("too short to be a pack"));
    }
    let mut header = [0u8; HEADER_LEN as usize];
    read(&mut header, 0)?;
    if &header[..8] != MAGIC {
        return Err(bad("bad magic"));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if !(1..=VERSION).contains(&version) {
        return Err(bad(&format!(
            "pack version {version} is not supported (this dvx reads version {VERSION}); upgrade dvx"
        )));
    }
    let mut footer = [0u8; FOOTER_LEN];
    read(&mut footer, len - FOOTER_LEN as u64)?;
    if &footer[48..56] != END_MAGIC {
        return Err(bad("bad end magic (truncated pack?)"));
    }
    let trailer_offset = u64::from_le_bytes(footer[0..8].try_into().expect("8 bytes"));
    let count = u64::from_le_bytes(footer[8..16].try_into().expect("8 bytes"));
    let expected = count
        .checked_mul(ENTRY_LEN as u64)
        .and_then(|n| n.checked_add(trailer_offset))
        .and_then(|n| n.checked_add(FOOTER_LEN as u64));
    if expected != Some(len) || trailer_offset < HEADER_LEN {
        return Err(bad("trailer size does not match the file size"));
    }
    let mut trailer = vec![0u8; (count as usize) * ENTRY_LEN];
    read(&mut trailer, trailer_offset)?;
    if blake3::hash(&trailer).as_bytes() != &footer[16..48] {
        return Err(bad("trailer checksum mismatch"));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for raw in trailer.chunks_exact(ENTRY_LEN) {
        let e = PackEntry {
            id: ChunkId::from_slice(&raw[..32]).expect("32 bytes"),
            offset: u64::from_le_bytes(raw[32..40].try_into().expect("8 bytes")),
            stored_len: u32::from_le_bytes(raw[40..44].try_into().expect("4 bytes")),
            raw_len: u32::from_le_bytes(raw[44..48].try_into().expect("4 bytes")),
            compression: Compression::from_byte(raw[48])
                .ok_or_else(|| bad("unknown compression"))?,
        };
        if e.offset < HEADER_LEN
            || e.offset
                .checked_add(e.stored_len as u64)
                .is_none_or(|end| end > trailer_offset)
            || e.raw_len > MAX_CHUNK_LEN
        {
            return Err(bad("entry outside the data area"));
        }
        // Version 2 is named by its trailer alone, so the entries must account for every
        // byte of the data area, in order: no byte escapes verification.
        let expected_offset = entries
            .last()
            .map_or(HEADER_LEN, |p: &PackEntry| p.offset + p.stored_len as u64);
        if version >= 2 && e.offset != expected_offset {
            return Err(bad("entries do not tile the data area"));
        }
        entries.push(e);
    }
    if version >= 2
        && entries
            .last()
            .map_or(HEADER_LEN, |p| p.offset + p.stored_len as u64)
            != trailer_offset
    {
        return Err(bad("entries do not tile the data area"));
    }
    Ok(entries)
}

/// True when a whole pack file's bytes match the pack id it is stored under: the trailer hash
/// for version 2, the hash of every byte for version 1. The trailer itself is checked by
/// [`read_trailer_with`], the chunks by [`decode_chunk`].
pub fn id_matches(data: &[u8], id: &PackId) -> bool {
    if data.len() < HEADER_LEN as usize + FOOTER_LEN {
        return false;
    }
    match u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) {
        1 => PackId::of(data) == *id,
        _ => {
            let footer = &data[data.len() - FOOTER_LEN..];
            &footer[16..48] == id.as_bytes()
        }
    }
}

/// A pack assembled in memory (for uploads: no local scratch file to write and read back).
/// Same byte format as [`PackBuilder`].
pub struct PackBuffer {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl Default for PackBuffer {
    fn default() -> Self {
        PackBuffer::new()
    }
}

impl PackBuffer {
    /// An empty pack (header only).
    pub fn new() -> PackBuffer {
        PackBuffer::reusing(Vec::with_capacity(1 << 20))
    }

    /// An empty pack in `buf` (cleared): the buffer of a pack already sent, whose pages are
    /// mapped, so a pipeline of packs does not fault in fresh memory for each.
    pub fn reusing(mut buf: Vec<u8>) -> PackBuffer {
        buf.clear();
        buf.extend_from_slice(&header());
        PackBuffer {
            buf,
            entries: Vec::new(),
        }
    }

    /// Bytes so far.
    pub fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    /// True when no chunk was appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends one stored chunk.
    pub fn append(
        &mut self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> PackEntry {
        let entry = PackEntry {
            id,
            offset: self.buf.len() as u64,
            stored_len: u32::try_from(stored.len()).expect("chunks are far below 4 GiB"),
            raw_len,
            compression,
        };
        self.buf.extend_from_slice(stored);
        self.entries.push(entry);
        entry
    }

    /// Adds the trailer; returns the pack id, its entries and its bytes.
    pub fn finish(mut self) -> (PackId, Vec<PackEntry>, Vec<u8>) {
        let (trailer, id) = trailer(&self.entries, self.buf.len() as u64);
        self.buf.extend_from_slice(&trailer);
        (id, self.entries, self.buf)
    }
}

#[cfg(test)]
mod tests;
