//! A chunk and where it is, as a spooled record, in two orders: by place (pack, offset), to
//! read packs front to back, and by chunk id, to join with sorted chunk ids.

use std::io::Read;

use dvx_store::index::Location;
use dvx_store::{ChunkId, Compression, PackId};

use super::Record;

/// A chunk and where it is (on the remote, or in the local store), ordered by place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub id: ChunkId,
    pub at: Location,
}

impl Located {
    fn key(&self) -> (PackId, u64, ChunkId) {
        (self.at.pack, self.at.offset, self.id)
    }
}

impl Ord for Located {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Located {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Record for Located {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(self.at.pack.as_bytes());
        out.extend_from_slice(&self.at.offset.to_le_bytes());
        super::put_u32(out, self.at.stored_len);
        super::put_u32(out, self.at.raw_len);
        out.push(self.at.compression.to_byte());
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Located> {
        let id = ChunkId(super::array(r)?);
        let pack = PackId(super::array(r)?);
        let offset = u64::from_le_bytes(super::array(r)?);
        let stored_len = super::get_u32(r)?;
        let raw_len = super::get_u32(r)?;
        let compression = Compression::from_byte(super::array::<1>(r)?[0]).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "bad compression byte")
        })?;
        Ok(Located {
            id,
            at: Location {
                pack,
                offset,
                stored_len,
                raw_len,
                compression,
            },
        })
    }
}

/// A [`Located`] ordered by chunk id first (then place): the order of sorted chunk ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ById(pub Located);

impl ById {
    fn key(&self) -> (ChunkId, PackId, u64) {
        (self.0.id, self.0.at.pack, self.0.at.offset)
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Record for ById {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }

    fn decode(r: &mut impl Read) -> std::io::Result<ById> {
        Located::decode(r).map(ById)
    }
}
