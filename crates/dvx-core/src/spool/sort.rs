//! Sorting more records than memory holds: sorted runs of at most `cap` records, each spooled
//! to its own temporary file, merged as they are read back. Equal records come out once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use super::{Reader, Record, Spool, Writer};
use crate::error::Result;

/// Read buffer of each run in a merge.
const MERGE_BUFFER: usize = 64 << 10;

/// Collects records, spilling a sorted run whenever `cap` are held.
pub(crate) struct Sorter<T> {
    dir: PathBuf,
    cap: usize,
    buf: Vec<T>,
    runs: Vec<Spool<T>>,
}

impl<T: Record + Ord + Clone> Sorter<T> {
    /// A sorter holding at most `cap` records in memory, spilling runs into `dir`.
    pub(crate) fn new(dir: &Path, cap: usize) -> Sorter<T> {
        Sorter {
            dir: dir.to_path_buf(),
            cap: cap.max(1),
            buf: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, t: T) -> Result<()> {
        self.buf.push(t);
        if self.buf.len() >= self.cap {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable();
        self.buf.dedup();
        let mut w = Writer::new(&self.dir)?;
        for t in &self.buf {
            w.push(t)?;
        }
        self.runs.push(w.finish()?);
        self.buf.clear();
        Ok(())
    }

    /// Everything pushed, ready to be read in order.
    pub(crate) fn finish(mut self) -> Result<Sorted<T>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            self.buf.dedup();
        } else if !self.buf.is_empty() {
            self.spill()?;
        }
        Ok(Sorted {
            mem: self.buf,
            runs: self.runs,
        })
    }
}

/// Sorted records: in memory when they fitted, else in runs on disk.
pub(crate) struct Sorted<T> {
    mem: Vec<T>,
    runs: Vec<Spool<T>>,
}

impl<T: Record + Ord + Clone> Sorted<T> {
    /// True when nothing was pushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.mem.is_empty() && self.runs.is_empty()
    }

    /// The records in order, each once.
    pub(crate) fn iter(&self) -> Result<Merge<'_, T>> {
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::with_capacity(self.runs.len());
        for (i, run) in self.runs.iter().enumerate() {
            let mut r = run.read_buffered(run.all, MERGE_BUFFER)?;
            if let Some(t) = r.next()? {
                heap.push(Reverse((t, i)));
            }
            readers.push(r);
        }
        Ok(Merge {
            mem: self.mem.iter(),
            readers,
            heap,
            last: None,
        })
    }
}

/// A k-way merge of the runs.
pub(crate) struct Merge<'a, T> {
    mem: std::slice::Iter<'a, T>,
    readers: Vec<Reader<'a, T>>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    last: Option<T>,
}

impl<T: Record + Ord + Clone> Merge<'_, T> {
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Result<Option<T>> {
        if self.readers.is_empty() {
            return Ok(self.mem.next().cloned());
        }
        while let Some(Reverse((t, i))) = self.heap.pop() {
            if let Some(n) = self.readers[i].next()? {
                self.heap.push(Reverse((n, i)));
            }
            if self.last.as_ref() == Some(&t) {
                continue;
            }
            self.last = Some(t.clone());
            return Ok(Some(t));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dvx_store::ChunkId;

    fn drain(s: &Sorted<ChunkId>) -> Vec<ChunkId> {
        let mut out = Vec::new();
        let mut it = s.iter().expect("merge");
        while let Some(c) = it.next().expect("merge") {
            out.push(c);
        }
        out
    }

    #[test]
    fn runs_merge_in_order_each_record_once() {
        let dir = tempfile::tempdir().expect("dir");
        let ids: Vec<ChunkId> = (0..10_000u32)
            .map(|i| ChunkId::of(&(i % 3_000).to_le_bytes()))
            .collect();
        let mut want = ids.clone();
        want.sort();
        want.dedup();
        assert_eq!(want.len(), 3_000);
        for cap in [300, 999, 3_000, 1 << 20] {
            let mut s = Sorter::new(dir.path(), cap);
            for c in &ids {
                s.push(*c).expect("push");
            }
            let sorted = s.finish().expect("finish");
            // Twice: each read starts from the beginning.
            assert_eq!(drain(&sorted), want, "cap {cap}");
            assert_eq!(drain(&sorted), want, "cap {cap}");
        }
        let empty = Sorter::<ChunkId>::new(dir.path(), 4)
            .finish()
            .expect("finish");
        assert!(empty.is_empty());
        assert!(drain(&empty).is_empty());
        // Every run was an unnamed file.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
