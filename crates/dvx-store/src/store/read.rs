//! Reading chunks back from packs: a cache of open pack files, verified reads, and read-ahead
//! advice.

use std::fs::File;
use std::sync::Arc;

use super::Store;
use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::{ChunkId, PackId};
use crate::index::Location;
use crate::pack;

const MAX_OPEN_PACKS: usize = 128;

impl Store {
    fn pack_file(&self, id: &PackId) -> Result<Arc<File>> {
        let mut files = self.files.lock().expect("file cache poisoned");
        if let Some(f) = files.get(id) {
            return Ok(f.clone());
        }
        if files.len() >= MAX_OPEN_PACKS {
            files.clear();
        }
        let path = self.pack_path(id);
        // Not a plain open: a FIFO or device in place of a pack must fail, not block.
        let (f, _) = sfs::open_regular(&path).map_err(|e| Error::io("open pack", &path, e))?;
        let f = Arc::new(f);
        files.insert(*id, f.clone());
        Ok(f)
    }

    /// Reads a chunk and verifies it against its id.
    pub fn read_chunk(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let locs = self.with_index(|s| s.lookup_all(id))?;
        let mut first_err = None;
        // A chunk stored twice survives the loss or damage of one copy: try each.
        for loc in &locs {
            match self.read_chunk_at(id, loc) {
                Ok(data) => return Ok(data),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::MissingChunk(*id)))
    }

    /// Reads a chunk into `dst` (exactly its length) and verifies it: a chunk stored raw is
    /// read straight into `dst`, with no buffer of its own (readers of whole files).
    pub fn read_chunk_into(&self, id: &ChunkId, dst: &mut [u8]) -> Result<()> {
        self.read_chunk_into_checked(id, dst, true)
    }

    /// [`Store::read_chunk_into`]; with `check` false, a chunk stored raw is not hashed again
    /// (for a reader that verified this chunk's bytes from this pack before: packs never
    /// change once written).
    pub fn read_chunk_into_checked(&self, id: &ChunkId, dst: &mut [u8], check: bool) -> Result<()> {
        let locs = self.with_index(|s| s.lookup_all(id))?;
        let mut first_err = None;
        for loc in &locs {
            let read = if loc.compression == pack::Compression::None
                && loc.stored_len as usize == dst.len()
            {
                self.read_raw_into(id, loc, dst, check)
            } else {
                self.read_chunk_at(id, loc).and_then(|data| {
                    if data.len() == dst.len() {
                        dst.copy_from_slice(&data);
                        Ok(())
                    } else {
                        Err(Error::CorruptChunk {
                            id: *id,
                            pack: loc.pack,
                            detail: format!(
                                "{} bytes where {} were expected",
                                data.len(),
                                dst.len()
                            ),
                        })
                    }
                })
            };
            match read {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::MissingChunk(*id)))
    }

    fn read_raw_into(
        &self,
        id: &ChunkId,
        loc: &Location,
        dst: &mut [u8],
        check: bool,
    ) -> Result<()> {
        self.read_stored_into(id, loc, dst)?;
        if check && ChunkId::of(dst) != *id {
            return Err(Error::CorruptChunk {
                id: *id,
                pack: loc.pack,
                detail: "content does not match its hash".into(),
            });
        }
        Ok(())
    }

    /// Reads a chunk at a known location and verifies it.
    pub fn read_chunk_at(&self, id: &ChunkId, loc: &Location) -> Result<Vec<u8>> {
        let mut stored = vec![0u8; loc.stored_len as usize];
        self.read_stored_into(id, loc, &mut stored)?;
        pack::decode_chunk_owned(&loc.entry(*id), &loc.pack, stored)
    }

    /// The stored bytes of chunk `id` at `loc` into `dst`; a pack too short is corrupt.
    fn read_stored_into(&self, id: &ChunkId, loc: &Location, dst: &mut [u8]) -> Result<()> {
        let file = self.pack_file(&loc.pack)?;
        let path = self.pack_path(&loc.pack);
        sfs::read_exact_at(&file, &path, dst, loc.offset).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::CorruptChunk {
                    id: *id,
                    pack: loc.pack,
                    detail: "pack file is truncated".into(),
                }
            }
            e => e,
        })
    }

    /// The stored (possibly compressed) bytes of a chunk, unverified; see [`pack::decode_chunk`].
    pub fn read_stored(&self, loc: &Location) -> Result<Vec<u8>> {
        let file = self.pack_file(&loc.pack)?;
        let mut stored = vec![0u8; loc.stored_len as usize];
        sfs::read_exact_at(&file, &self.pack_path(&loc.pack), &mut stored, loc.offset)?;
        Ok(stored)
    }

    /// Asks the kernel to start reading `len` bytes of a pack at `offset` into the page cache
    /// (advice: it does not wait, and a failure changes nothing but speed). Packs are written
    /// around the page cache, so a reader that knows what it reads next (push) overlaps the
    /// disk reads with its work.
    pub fn will_need(&self, pack: &PackId, offset: u64, len: u64) {
        if let Ok(file) = self.pack_file(pack) {
            sfs::advise_will_need(&file, offset, len);
        }
    }
}
