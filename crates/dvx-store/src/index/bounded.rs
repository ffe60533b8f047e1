//! Lookups in index sets too large to keep mapped ([`super::bound_residency`]): entries
//! read by `pread` a window at a time, and the window kept between lookups of ascending ids.

use super::{IndexFile, Location, ENTRY_LEN, WINDOW};
use crate::error::Result;
use crate::fs as sfs;
use crate::id::ChunkId;

/// The entries a bounded lookup read last, kept for the next lookup of a larger or equal id
/// ([`IndexFile::lookup_ascending`]): one per index file, per reader.
#[derive(Default)]
pub struct Window {
    /// The id that was looked up: every entry before the window is below it.
    from_key: [u8; 32],
    /// The entries read, sorted by id.
    entries: Vec<u8>,
}

impl Window {
    /// True when `key` is answered by the window: at or above the key that read it (no entry
    /// before the window can match) and at or below its last id (no entry after it can).
    fn answers(&self, key: &[u8]) -> bool {
        let n = self.entries.len() / ENTRY_LEN;
        n > 0
            && &self.from_key[..] <= key
            && key <= &self.entries[(n - 1) * ENTRY_LEN..(n - 1) * ENTRY_LEN + 32]
    }
}

impl IndexFile {
    /// Entries `from..from + buf.len() / ENTRY_LEN`, read by `pread` into `buf`.
    pub(super) fn read_entries(&self, from: usize, buf: &mut [u8]) -> Result<()> {
        self.pread((self.entries_at + from * ENTRY_LEN) as u64, buf)
    }

    /// Reads `buf.len()` bytes at `at`; only files of a bounded set read this way, and they
    /// keep their file open.
    pub(super) fn pread(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let file = self
            .file
            .as_ref()
            .expect("a bounded set keeps its files open");
        sfs::read_exact_at(file, &self.path, buf, at)
    }

    /// [`IndexFile::lookup`] by `pread`, for sets too large to keep mapped: reads the
    /// [`WINDOW`] entries around the guess, then up to two windows next to it on the side of
    /// the id; when the id lies still further, bisects the rest of the bucket one id at a time
    /// until what is left fits in a window. Nothing stays resident; a hit costs one read, and
    /// rarely more.
    /// With `keep`, the entries finally searched are kept there: the id's place is among
    /// them, so they answer later ids up to their last.
    pub(super) fn lookup_read(
        &self,
        key: &[u8],
        guess: usize,
        mut lo: usize,
        mut hi: usize,
        keep: Option<&mut Window>,
    ) -> Result<Option<Location>> {
        let found = |window: &[u8]| {
            if let Some(w) = keep {
                w.from_key.copy_from_slice(key);
                w.entries.clear();
                w.entries.extend_from_slice(window);
            }
            self.find_in_window(key, window)
        };
        let mut buf = [0u8; WINDOW * ENTRY_LEN];
        let mut from = guess.saturating_sub(WINDOW / 2);
        for _ in 0..3 {
            let n = (hi - lo).min(WINDOW);
            from = from.clamp(lo, hi - n);
            self.read_entries(from, &mut buf[..n * ENTRY_LEN])?;
            let window = &buf[..n * ENTRY_LEN];
            let last = (n - 1) * ENTRY_LEN;
            if key < &window[..32] && from > lo {
                hi = from;
                from = from.saturating_sub(WINDOW);
            } else if key > &window[last..last + 32] && from + n < hi {
                lo = from + n;
                from = lo;
            } else {
                return found(window);
            }
        }
        let mut one = [0u8; 32];
        while hi - lo > WINDOW {
            let mid = lo + (hi - lo) / 2;
            self.pread((self.entries_at + mid * ENTRY_LEN) as u64, &mut one)?;
            if &one[..] < key {
                lo = mid + 1;
            } else {
                hi = mid + 1;
            }
        }
        if lo == hi {
            return Ok(None);
        }
        let window = &mut buf[..(hi - lo) * ENTRY_LEN];
        self.read_entries(lo, window)?;
        found(window)
    }

    /// [`IndexFile::lookup`] for ids asked in ascending order (a sorted stream of ids): in a
    /// set read by `pread`, an id that falls in the entries `window` holds from the previous
    /// lookup is answered without a read. A stream of ids as dense as the index's reads each
    /// part of it about once, rather than once per id and file.
    pub fn lookup_ascending(&self, id: &ChunkId, window: &mut Window) -> Result<Option<Location>> {
        if !self.hand_back {
            return self.lookup(id);
        }
        if window.answers(&id.0) {
            return self.find_in_window(&id.0, &window.entries);
        }
        let Some((start, end, guess)) = self.bucket(id) else {
            return Ok(None);
        };
        self.lookup_read(&id.0, guess, start, end, Some(window))
    }

    /// Bisects entries read into `window` (sorted by id) for `key`.
    pub(super) fn find_in_window(&self, key: &[u8], window: &[u8]) -> Result<Option<Location>> {
        let n = window.len() / ENTRY_LEN;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = &window[mid * ENTRY_LEN..(mid + 1) * ENTRY_LEN];
            match e[..32].cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.parse_entry(e).map(|(_, l)| Some(l)),
            }
        }
        Ok(None)
    }
}
