//! Which byte ranges of which remote packs a fetch reads: the chunks it needs, sorted by
//! pack and offset, neighbours merged into one ranged read. Pure: no I/O.

use dvx_store::index::Location;
use dvx_store::{ChunkId, PackId};

/// Byte ranges closer than this are fetched in one request: a gap costs less to download
/// than a request's round trip.
pub(crate) const MAX_RANGE_GAP: u64 = 256 << 10;
/// Upper bound of one ranged read (bounds memory: requests in flight x this).
pub(crate) const MAX_RANGE_LEN: u64 = 4 << 20;

pub(crate) use crate::spool::Located;

/// One ranged read of a remote pack, and the chunks inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangeRead {
    /// The pack read.
    pub pack: PackId,
    /// First byte.
    pub start: u64,
    /// Bytes read.
    pub len: u64,
    /// The chunks the range holds, in offset order.
    pub chunks: Vec<(ChunkId, Location)>,
}

/// Builds the reads of chunks fed in (pack, offset) order: chunks of one pack whose gap is at
/// most `max_gap` bytes share a read, as long as it stays within `max_len` bytes (a single
/// larger chunk is read alone). Chunks that overlap the previous one start a read of their
/// own.
pub(crate) struct RangePlanner {
    max_gap: u64,
    max_len: u64,
    open: Option<RangeRead>,
}

impl RangePlanner {
    pub(crate) fn new(max_gap: u64, max_len: u64) -> RangePlanner {
        RangePlanner {
            max_gap,
            max_len,
            open: None,
        }
    }

    /// Adds the next chunk; returns the read it closed, if any.
    pub(crate) fn push(&mut self, c: ChunkId, l: Location) -> Option<RangeRead> {
        let end = l.offset + l.stored_len as u64;
        if let Some(last) = &mut self.open {
            let last_end = last.start + last.len;
            if last.pack == l.pack
                && l.offset >= last_end
                && l.offset - last_end <= self.max_gap
                && end - last.start <= self.max_len
            {
                last.len = end - last.start;
                last.chunks.push((c, l));
                return None;
            }
        }
        self.open.replace(RangeRead {
            pack: l.pack,
            start: l.offset,
            len: l.stored_len as u64,
            chunks: vec![(c, l)],
        })
    }

    /// The last read (the planner is then empty).
    pub(crate) fn finish(&mut self) -> Option<RangeRead> {
        self.open.take()
    }
}

/// Every read of `located` ([`RangePlanner`] after sorting).
#[cfg(test)]
fn plan_ranges(
    mut located: Vec<(ChunkId, Location)>,
    max_gap: u64,
    max_len: u64,
) -> Vec<RangeRead> {
    located.sort_by_key(|(_, l)| (l.pack, l.offset));
    let mut planner = RangePlanner::new(max_gap, max_len);
    let mut ranges: Vec<RangeRead> = located
        .into_iter()
        .filter_map(|(c, l)| planner.push(c, l))
        .collect();
    ranges.extend(planner.finish());
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use dvx_store::Compression;

    fn pack(n: u8) -> PackId {
        PackId([n; 32])
    }

    fn chunk(pack_n: u8, offset: u64, len: u32) -> (ChunkId, Location) {
        let id = ChunkId::of(format!("{pack_n}/{offset}/{len}").as_bytes());
        let loc = Location {
            pack: pack(pack_n),
            offset,
            stored_len: len,
            raw_len: len,
            compression: Compression::None,
        };
        (id, loc)
    }

    /// (pack, start, len, chunks) of each read.
    fn shape(ranges: &[RangeRead]) -> Vec<(PackId, u64, u64, usize)> {
        ranges
            .iter()
            .map(|r| (r.pack, r.start, r.len, r.chunks.len()))
            .collect()
    }

    #[test]
    fn nothing_needed_reads_nothing() {
        assert!(plan_ranges(Vec::new(), 10, 100).is_empty());
    }

    #[test]
    fn neighbours_merge_and_far_chunks_do_not() {
        // Given out of order: sorted by offset first.
        let got = plan_ranges(
            vec![
                chunk(1, 100, 10),
                chunk(1, 0, 10),
                chunk(1, 15, 5),
                chunk(1, 200, 1),
            ],
            10,
            1000,
        );
        // 0..10 and 15..20 share a read (gap 5); 100 is 80 past 20; 200 is 89 past 110.
        assert_eq!(
            shape(&got),
            vec![
                (pack(1), 0, 20, 2),
                (pack(1), 100, 10, 1),
                (pack(1), 200, 1, 1)
            ]
        );
        let offsets: Vec<u64> = got[0].chunks.iter().map(|(_, l)| l.offset).collect();
        assert_eq!(offsets, vec![0, 15]);
        // A gap of exactly max_gap still merges.
        let got = plan_ranges(vec![chunk(1, 0, 10), chunk(1, 20, 10)], 10, 1000);
        assert_eq!(shape(&got), vec![(pack(1), 0, 30, 2)]);
    }

    #[test]
    fn reads_never_span_packs() {
        let got = plan_ranges(vec![chunk(2, 10, 10), chunk(1, 0, 10)], 1000, 1000);
        assert_eq!(shape(&got), vec![(pack(1), 0, 10, 1), (pack(2), 10, 10, 1)]);
    }

    #[test]
    fn a_read_stays_within_the_length_bound() {
        let chunks: Vec<_> = (0..10).map(|i| chunk(1, i * 10, 10)).collect();
        let got = plan_ranges(chunks, 0, 35);
        assert_eq!(
            shape(&got),
            vec![
                (pack(1), 0, 30, 3),
                (pack(1), 30, 30, 3),
                (pack(1), 60, 30, 3),
                (pack(1), 90, 10, 1)
            ]
        );
        // A chunk larger than the bound is read alone.
        let got = plan_ranges(vec![chunk(1, 0, 5), chunk(1, 5, 100)], 0, 35);
        assert_eq!(shape(&got), vec![(pack(1), 0, 5, 1), (pack(1), 5, 100, 1)]);
    }

    #[test]
    fn overlapping_chunks_start_their_own_read() {
        // An index that claims overlapping chunks (damaged or hostile) is not trusted to
        // describe one contiguous read.
        let got = plan_ranges(vec![chunk(1, 0, 10), chunk(1, 5, 10)], 100, 1000);
        assert_eq!(shape(&got), vec![(pack(1), 0, 10, 1), (pack(1), 5, 10, 1)]);
    }
}
