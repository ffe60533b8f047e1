//! The ids of dvx's objects: typed 32-byte BLAKE3 hashes ([`ChunkId`], [`TreeId`], [`Digest`],
//! [`PackId`]), made from bytes with `of` and parsed from hex only at the edges (`FromStr`).
//!
//! The store and the manifest both name objects by these ids; keeping them here lets the
//! manifest (pure data) name a tree without depending on the store's packs and compression.
//! [`MAX_TREE_LEN`] is the one bound both sides of a tree object share.
#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

/// Largest encoded tree a [`TreeId`] may name, in bytes: the manifest's decoder refuses longer
/// trees and the store caps the decompression of a tree object at this size.
pub const MAX_TREE_LEN: u64 = 1 << 30;

/// A hex string that is not an id: not 64 characters, or not hexadecimal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIdError(pub String);

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid id `{}`: expected 64 hexadecimal characters",
            self.0
        )
    }
}

impl std::error::Error for ParseIdError {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The id of `bytes`: their BLAKE3-256 hash.
            pub fn of(bytes: &[u8]) -> Self {
                $name(*blake3::hash(bytes).as_bytes())
            }
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Lower-case hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex(&self.0)
            }
            /// The first 12 hex characters, for humans.
            pub fn short(&self) -> String {
                let mut s = self.to_hex();
                s.truncate(12);
                s
            }
            /// Builds an id from a byte slice of length 32.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                let arr: [u8; 32] = b.try_into().ok()?;
                Some($name(arr))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, ParseIdError> {
                parse_hex(s).map($name).ok_or_else(|| ParseIdError(s.to_string()))
            }
        }

        impl From<blake3::Hash> for $name {
            fn from(h: blake3::Hash) -> Self {
                $name(*h.as_bytes())
            }
        }
    };
}

id_type!(
    /// The id of a chunk: BLAKE3 of its uncompressed bytes.
    ChunkId
);
id_type!(
    /// The id of a tree object: BLAKE3 of its canonical encoding. A root tree id is a dataset version id.
    TreeId
);
id_type!(
    /// The digest of a whole file: BLAKE3 of its bytes (what `b3sum` prints).
    Digest
);
id_type!(
    /// The id of a pack file: BLAKE3 of its trailer entries (pack format 2), which list the id,
    /// offset and lengths of every chunk and so cover every byte. Format-1 packs were named by
    /// the hash of the whole file.
    PackId
);

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Bytes first, one check at the end: listings print millions of ids.
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ChunkId::of(b"hello");
        let parsed: ChunkId = id.to_hex().parse().expect("valid hex");
        assert_eq!(id, parsed);
        assert_eq!(id.to_hex(), blake3::hash(b"hello").to_hex().to_string());
        assert!("xyz".parse::<ChunkId>().is_err());
        assert!("g".repeat(64).parse::<ChunkId>().is_err());
        assert_eq!(id.short(), id.to_hex()[..12]);
    }
}
