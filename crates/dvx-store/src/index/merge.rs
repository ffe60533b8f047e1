//! Index files merged into one as streams: the inputs are already sorted, so the entries are
//! merged through a heap of one cursor per file and written as they come (twice: once to
//! count them for the header, once to write them). Memory holds the pack table and a cursor
//! per input, never the entries, however many chunks the store has.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::path::{Path, PathBuf};

use super::{put_entry, put_head, IndexFile, Location};
use crate::error::Result;
use crate::fs::AtomicFile;
use crate::id::{ChunkId, PackId};

/// Bytes written at a time.
const BUF: usize = 1 << 20;

/// The entries of `files` in id order, each id once: its first location (in the order of
/// `files`) that `keep` accepts. Memory holds a cursor per file; files of a bounded set
/// ([`super::bound_residency`]) hand their pages back as it goes.
pub struct Merged<'a, K> {
    files: &'a [IndexFile],
    heap: BinaryHeap<Reverse<(&'a [u8], usize, usize)>>,
    last: Option<ChunkId>,
    keep: K,
    /// Entries read from all the files together.
    read: usize,
}

/// Entries read from all the inputs together after which every input hands its pages back:
/// an input's own hand-back comes every 65,536 of its entries, by which time the others
/// have read as many each (38 inputs at 10M chunks: 140 MB resident).
const HAND_BACK_EVERY: usize = 1 << 16;

impl<'a, K: Fn(&Location) -> bool> Merged<'a, K> {
    /// Merges `files`, keeping the locations `keep` accepts.
    pub fn new(files: &'a [IndexFile], keep: K) -> Merged<'a, K> {
        let heap = files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_empty())
            .map(|(i, f)| Reverse((f.id_at(0), i, 0)))
            .collect();
        Merged {
            files,
            heap,
            last: None,
            keep,
            read: 0,
        }
    }

    /// The next id and its location, or None after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(ChunkId, Location)>> {
        while let Some(Reverse((_, i, pos))) = self.heap.pop() {
            let f = &self.files[i];
            if pos + 1 < f.len() {
                self.heap.push(Reverse((f.id_at(pos + 1), i, pos + 1)));
            }
            let (id, loc) = f.entry(pos)?;
            f.passed(pos);
            self.read += 1;
            if self.read % HAND_BACK_EVERY == 0 {
                self.files.iter().for_each(IndexFile::hand_back_now);
            }
            if self.last == Some(id) || !(self.keep)(&loc) {
                continue;
            }
            self.last = Some(id);
            return Ok(Some((id, loc)));
        }
        Ok(None)
    }
}

/// Writes one index file into `dir` for the entries of `files` that `keep` accepts (a chunk
/// listed more than once keeps its first accepted location, in the order of `files`), named
/// `<blake3 of contents>.idx`. Returns its path, or `None` when no entry is kept.
pub fn write_merged(
    dir: &Path,
    files: &[IndexFile],
    keep: &dyn Fn(&Location) -> bool,
) -> Result<Option<PathBuf>> {
    let mut counts = [0u32; 256];
    let mut count = 0u64;
    let mut packs = BTreeSet::new();
    let mut m = Merged::new(files, keep);
    while let Some((id, loc)) = m.next()? {
        counts[id.0[0] as usize] += 1;
        count += 1;
        packs.insert(loc.pack);
    }
    if count == 0 {
        return Ok(None);
    }
    let packs: Vec<PackId> = packs.into_iter().collect();
    let mut out = AtomicFile::create(&dir.join("merged.idx"))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = Vec::with_capacity(BUF + 64);
    put_head(&mut buf, &packs, count, &counts);
    let mut m = Merged::new(files, keep);
    while let Some((id, loc)) = m.next()? {
        put_entry(&mut buf, &id, &packs, &loc);
        if buf.len() >= BUF {
            hasher.update(&buf);
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    hasher.update(&buf);
    let sum = hasher.finalize();
    buf.extend_from_slice(sum.as_bytes());
    out.write_all(&buf)?;
    let path = dir.join(format!("{}.idx", sum.to_hex()));
    out.set_dest(path.clone());
    out.commit()?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::write_index;
    use crate::pack::Compression;

    fn loc(pack: u8, i: u32) -> Location {
        Location {
            pack: PackId::of(&[pack]),
            offset: i as u64 * 7,
            stored_len: i,
            raw_len: i + 1,
            compression: Compression::None,
        }
    }

    #[test]
    fn merged_files_are_the_index_of_all_their_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Three overlapping files: ids 0..3000 in pack a, 2000..5000 in b, every third id of
        // 0..6000 in c.
        let sets: Vec<Vec<(ChunkId, Location)>> = vec![
            (0..3000u32)
                .map(|i| (ChunkId::of(&i.to_le_bytes()), loc(1, i)))
                .collect(),
            (2000..5000u32)
                .map(|i| (ChunkId::of(&i.to_le_bytes()), loc(2, i)))
                .collect(),
            (0..6000u32)
                .step_by(3)
                .map(|i| (ChunkId::of(&i.to_le_bytes()), loc(3, i)))
                .collect(),
        ];
        let files: Vec<IndexFile> = sets
            .iter()
            .map(|s| {
                let p = write_index(dir.path(), s.clone()).expect("write");
                IndexFile::open(&p).expect("open")
            })
            .collect();
        for dropped in [None, Some(PackId::of(&[1])), Some(PackId::of(&[2]))] {
            let keep = |l: &Location| Some(l.pack) != dropped;
            let merged = write_merged(dir.path(), &files, &keep)
                .expect("merge")
                .expect("entries");
            // Byte for byte the file the in-memory writer makes of all the entries.
            let all: Vec<_> = sets.concat().into_iter().filter(|(_, l)| keep(l)).collect();
            let want_dir = tempfile::tempdir().expect("tempdir");
            let want = write_index(want_dir.path(), all.clone()).expect("write");
            assert_eq!(
                std::fs::read(&merged).expect("read"),
                std::fs::read(&want).expect("read"),
                "dropped {dropped:?}"
            );
            let got = IndexFile::open(&merged).expect("open merged");
            let mut expect = all;
            expect.sort_by_key(|e| e.0);
            expect.dedup_by(|a, b| a.0 == b.0);
            assert_eq!(
                got.entries().expect("entries"),
                expect,
                "dropped {dropped:?}"
            );
        }
        let none = |_: &Location| false;
        assert!(write_merged(dir.path(), &files, &none)
            .expect("merge")
            .is_none());
    }

    /// Inputs read by `pread` hand their pages back every 65,536 entries read from all of
    /// them together, not only every 65,536 of their own.
    #[test]
    fn a_merge_hands_every_input_back_as_it_goes() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files: Vec<IndexFile> = (0..4u32)
            .map(|f| {
                let entries = (0..40_000u32)
                    .map(|i| (ChunkId::of(&(f * 40_000 + i).to_le_bytes()), loc(1, i)))
                    .collect();
                IndexFile::open(&write_index(dir.path(), entries).expect("write")).expect("open")
            })
            .collect();
        crate::index::bound_residency(&mut files);
        let before: usize = files.iter().map(|f| f.releases.load(Relaxed)).sum();
        let all = |_: &Location| true;
        let mut m = Merged::new(&files, &all);
        let mut n = 0;
        while m.next().expect("next").is_some() {
            n += 1;
        }
        assert_eq!(n, 160_000);
        let after: usize = files.iter().map(|f| f.releases.load(Relaxed)).sum();
        // Twice all four (at 65,536 and 131,072 entries), and each after its last entry.
        assert_eq!(after - before, 2 * 4 + 4);
    }

    #[test]
    fn nothing_kept_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = [IndexFile::open(
            &write_index(dir.path(), vec![(ChunkId::of(b"x"), loc(1, 1))]).expect("write"),
        )
        .expect("open")];
        let none = |_: &Location| false;
        assert!(write_merged(dir.path(), &files, &none)
            .expect("merge")
            .is_none());
    }
}
