//! Content-defined chunking with FastCDC (2020). Cut points depend only on content, so an edit
//! only changes the chunks around it; a file smaller than the minimum is one chunk.

use std::io::Read;

use serde::{Deserialize, Serialize};

/// Chunk size limits in bytes. Fixed per store (recorded in its config) because changing them
/// changes every cut point and defeats deduplication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Minimum chunk size (except the last chunk of a file).
    pub min: u32,
    /// Target average chunk size.
    pub avg: u32,
    /// Maximum chunk size.
    pub max: u32,
}

impl Default for ChunkerParams {
    /// 16 KiB / 64 KiB / 256 KiB: small enough that an edit stores little, large enough that
    /// the per-chunk overhead (an index entry and a tree entry, under a hundred bytes) stays
    /// small next to the chunk.
    fn default() -> Self {
        ChunkerParams {
            min: 16 * 1024,
            avg: 64 * 1024,
            max: 256 * 1024,
        }
    }
}

impl ChunkerParams {
    /// Checks the limits FastCDC accepts.
    pub fn validate(&self) -> std::result::Result<(), String> {
        // fastcdc v2020's own limits (MINIMUM_MIN..MAXIMUM_MAX).
        let ok = self.min >= 64
            && self.min <= 1 << 20
            && self.avg >= 256
            && self.avg <= 4 << 20
            && self.max >= 1024
            && self.max <= 16 << 20
            && self.min <= self.avg
            && self.avg <= self.max
            && self.min % 2 == 0
            && self.avg % 2 == 0
            && self.max % 2 == 0;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "chunk sizes min={} avg={} max={} are out of range (need 64 <= min <= 1 MiB, 256 <= avg <= 4 MiB, 1 KiB <= max <= 16 MiB, min <= avg <= max, all even)",
                self.min, self.avg, self.max
            ))
        }
    }
}

/// Reads `reader` to the end and calls `f` with each chunk in order. Memory use is bounded by
/// a buffer of a few times `max`. Returns the total number of bytes read.
///
/// The cut points are identical to chunking the whole content at once: a chunk is only
/// emitted when at least `max` bytes follow its start or the input has ended.
pub fn chunk_reader<R: Read, E>(
    reader: R,
    params: ChunkerParams,
    mut f: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    on_io: impl FnMut(std::io::Error) -> E,
) -> std::result::Result<u64, E> {
    chunk_batches(
        reader,
        params,
        u64::MAX,
        |data, cuts| {
            for &(a, b) in cuts {
                f(&data[a..b])?;
            }
            Ok(())
        },
        on_io,
    )
}

/// Like [`chunk_reader`], but hands over the chunks of each buffer fill at once, as
/// `(buffer, [(start, end)])`, so the caller can process them in parallel. `size_hint` (the
/// file size, if known) keeps the buffer small for small files: allocating a multi-MiB
/// buffer per file would dominate the cost of 20,000 small files.
pub fn chunk_batches<R: Read, E>(
    mut reader: R,
    params: ChunkerParams,
    size_hint: u64,
    mut f: impl FnMut(&[u8], &[(usize, usize)]) -> std::result::Result<(), E>,
    mut on_io: impl FnMut(std::io::Error) -> E,
) -> std::result::Result<u64, E> {
    let max = params.max as usize;
    let full_size = (max * 4).max(8 << 20);
    // One byte more than the hint, so reading a file of the hinted size ends with EOF.
    let mut buf = vec![0u8; (size_hint.saturating_add(1)).min(full_size as u64) as usize];
    let mut filled = 0usize;
    let mut eof = false;
    let mut total = 0u64;
    let mut cuts = Vec::new();
    loop {
        while !eof && filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => {
                    filled += n;
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(on_io(e)),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        let data = &buf[..filled];
        let mut consumed = 0usize;
        cuts.clear();
        let cdc = fastcdc::v2020::FastCDC::new(
            data,
            params.min as usize,
            params.avg as usize,
            params.max as usize,
        );
        for chunk in cdc {
            // Not at EOF: the last chunk may have been cut short by the buffer end; keep it
            // (and anything with fewer than `max` bytes of look-ahead) for the next round.
            if !eof && filled - chunk.offset < max {
                break;
            }
            consumed = chunk.offset + chunk.length;
            cuts.push((chunk.offset, consumed));
        }
        if !cuts.is_empty() {
            f(data, &cuts)?;
        }
        if eof && consumed == filled {
            return Ok(total);
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        // The input is longer than the hint said: grow to the full working size.
        if filled == buf.len() && buf.len() < full_size {
            buf.resize(full_size, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    }

    fn chunks_of(data: &[u8], params: ChunkerParams) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        chunk_reader(
            data,
            params,
            |c| {
                out.push(c.to_vec());
                Ok::<(), std::io::Error>(())
            },
            |e| e,
        )
        .expect("in-memory read");
        out
    }

    #[test]
    fn streaming_matches_whole_buffer() {
        let params = ChunkerParams::default();
        let data = random(11 << 20, 1);
        let streamed = chunks_of(&data, params);
        let whole: Vec<Vec<u8>> = fastcdc::v2020::FastCDC::new(&data, 16384, 65536, 262144)
            .map(|c| data[c.offset..c.offset + c.length].to_vec())
            .collect();
        assert_eq!(streamed, whole);
        assert_eq!(streamed.concat(), data);
    }

    #[test]
    fn batches_with_wrong_hints_match() {
        let params = ChunkerParams::default();
        let data = random(3 << 20, 5);
        let whole = chunks_of(&data, params);
        for hint in [0u64, 10, 100_000, 3 << 20, u64::MAX] {
            let mut got = Vec::new();
            chunk_batches(
                &data[..],
                params,
                hint,
                |buf, cuts| {
                    got.extend(cuts.iter().map(|&(a, b)| buf[a..b].to_vec()));
                    Ok::<(), std::io::Error>(())
                },
                |e| e,
            )
            .expect("in-memory read");
            assert_eq!(got, whole, "hint {hint}");
        }
    }

    #[test]
    fn small_and_empty_inputs() {
        let params = ChunkerParams::default();
        assert!(chunks_of(&[], params).is_empty());
        let small = random(1000, 2);
        assert_eq!(chunks_of(&small, params), vec![small.clone()]);
    }

    #[test]
    fn insertion_changes_few_chunks() {
        let params = ChunkerParams::default();
        let a = random(8 << 20, 3);
        let mut b = a.clone();
        b.splice(4 << 20..4 << 20, random(100, 4));
        let ca: std::collections::HashSet<_> = chunks_of(&a, params).into_iter().collect();
        let cb = chunks_of(&b, params);
        let new = cb.iter().filter(|c| !ca.contains(*c)).count();
        assert!(new <= 3, "{new} new chunks after a 100-byte insertion");
    }
}
