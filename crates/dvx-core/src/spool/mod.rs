//! Records too many to hold in memory, written to an unnamed temporary file in the state
//! directory and read back in the order written (from the start or from a mark, as often as
//! needed). The file has no name, so nothing is left behind, even when the process is killed.

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkId, Digest};

use crate::error::{Error, Result};
use crate::scan::FlatEntry;
use crate::statcache::StatKey;

mod located;
mod sort;
pub(crate) use located::{ById, Located};
pub(crate) use sort::{Merge, Sorted, Sorter};

/// A record that can be spooled.
pub(crate) trait Record: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut impl Read) -> std::io::Result<Self>;
}

/// Where a run of records starts, and how many it holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mark {
    offset: u64,
    count: u64,
}

/// Appends records.
pub(crate) struct Writer<T> {
    out: BufWriter<std::fs::File>,
    dir: PathBuf,
    offset: u64,
    count: u64,
    run: Mark,
    buf: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: Record> Writer<T> {
    /// A spool in `dir` (created if missing).
    pub(crate) fn new(dir: &Path) -> Result<Writer<T>> {
        Ok(Writer {
            out: BufWriter::with_capacity(1 << 20, crate::fsx::spool_file(dir)?),
            dir: dir.to_path_buf(),
            offset: 0,
            count: 0,
            run: Mark::default(),
            buf: Vec::new(),
            _t: PhantomData,
        })
    }

    pub(crate) fn push(&mut self, rec: &T) -> Result<()> {
        self.buf.clear();
        rec.encode(&mut self.buf);
        self.out
            .write_all(&self.buf)
            .map_err(|e| Error::io("write a temporary file in", &self.dir, e))?;
        self.offset += self.buf.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// Ends the current run: the records pushed since the last mark (or the start).
    pub(crate) fn mark(&mut self) -> Mark {
        let run = Mark {
            offset: self.run.offset,
            count: self.count - self.run.count,
        };
        self.run = Mark {
            offset: self.offset,
            count: self.count,
        };
        run
    }

    /// Everything written, for reading.
    pub(crate) fn finish(self) -> Result<Spool<T>> {
        let dir = self.dir;
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write a temporary file in", &dir, e.into_error()))?;
        Ok(Spool {
            file,
            dir,
            all: Mark {
                offset: 0,
                count: self.count,
            },
            _t: PhantomData,
        })
    }
}

/// A finished spool.
pub(crate) struct Spool<T> {
    file: std::fs::File,
    dir: PathBuf,
    all: Mark,
    _t: PhantomData<T>,
}

impl<T: Record> Spool<T> {
    /// Reads every record from the start.
    pub(crate) fn read(&self) -> Result<Reader<'_, T>> {
        self.read_run(self.all)
    }

    /// Reads the records of one run.
    pub(crate) fn read_run(&self, run: Mark) -> Result<Reader<'_, T>> {
        self.read_buffered(run, 1 << 20)
    }

    /// [`Spool::read_run`] through a buffer of `buffer` bytes (a merge reads many runs at once).
    fn read_buffered(&self, run: Mark, buffer: usize) -> Result<Reader<'_, T>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(run.offset))
            .map_err(|e| Error::io("read a temporary file in", &self.dir, e))?;
        Ok(Reader {
            r: BufReader::with_capacity(buffer, file),
            dir: &self.dir,
            left: run.count,
            _t: PhantomData,
        })
    }
}

/// Records in the order written. One reader at a time: they share the file's position.
pub(crate) struct Reader<'a, T> {
    r: BufReader<&'a std::fs::File>,
    dir: &'a Path,
    left: u64,
    _t: PhantomData<T>,
}

impl<T: Record> Reader<'_, T> {
    pub(crate) fn next(&mut self) -> Result<Option<T>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        T::decode(&mut self.r)
            .map(Some)
            .map_err(|e| Error::io("read a temporary file in", self.dir, e))
    }

    /// Whether every record has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.left == 0
    }

    /// Up to `n` records.
    pub(crate) fn batch(&mut self, n: usize) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(n.min(self.left as usize));
        while out.len() < n {
            match self.next()? {
                Some(t) => out.push(t),
                None => break,
            }
        }
        Ok(out)
    }
}

pub(crate) fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

pub(crate) fn array<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a)?;
    Ok(a)
}

pub(crate) fn get_u32(r: &mut impl Read) -> std::io::Result<u32> {
    Ok(u32::from_le_bytes(array(r)?))
}

pub(crate) fn get_bytes(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let n = get_u32(r)? as usize;
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

/// A stat key as every dvx file that records one lays it out: size, mtime ns, ctime ns,
/// inode, mode.
pub(crate) fn put_key(out: &mut Vec<u8>, key: &StatKey) {
    out.extend_from_slice(&key.size.to_le_bytes());
    out.extend_from_slice(&key.mtime_ns.to_le_bytes());
    out.extend_from_slice(&key.ctime_ns.to_le_bytes());
    out.extend_from_slice(&key.ino.to_le_bytes());
    put_u32(out, key.mode);
}

pub(crate) fn get_key(r: &mut impl Read) -> std::io::Result<StatKey> {
    Ok(StatKey {
        size: u64::from_le_bytes(array(r)?),
        mtime_ns: i64::from_le_bytes(array(r)?),
        ctime_ns: i64::from_le_bytes(array(r)?),
        ino: u64::from_le_bytes(array(r)?),
        mode: get_u32(r)?,
    })
}

pub(crate) fn put_chunks(out: &mut Vec<u8>, chunks: &[ChunkRef]) {
    put_u32(out, chunks.len() as u32);
    for c in chunks {
        out.extend_from_slice(c.id.as_bytes());
        put_u32(out, c.len);
    }
}

pub(crate) fn get_chunks(r: &mut impl Read) -> std::io::Result<Vec<ChunkRef>> {
    let n = get_u32(r)? as usize;
    let mut chunks = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let id = ChunkId(array(r)?);
        chunks.push(ChunkRef {
            id,
            len: get_u32(r)?,
        });
    }
    Ok(chunks)
}

impl Record for FlatEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            FlatEntry::Dir => out.push(0),
            FlatEntry::Symlink { target } => {
                out.push(1);
                put_bytes(out, target);
            }
            FlatEntry::File {
                size,
                digest,
                executable,
                chunks,
            } => {
                out.push(if *executable { 3 } else { 2 });
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(digest.as_bytes());
                put_chunks(out, chunks);
            }
        }
    }

    fn decode(r: &mut impl Read) -> std::io::Result<FlatEntry> {
        Ok(match array::<1>(r)?[0] {
            0 => FlatEntry::Dir,
            1 => FlatEntry::Symlink {
                target: get_bytes(r)?,
            },
            kind => FlatEntry::File {
                executable: kind == 3,
                size: u64::from_le_bytes(array(r)?),
                digest: Digest(array(r)?),
                chunks: get_chunks(r)?,
            },
        })
    }
}

impl Record for ChunkId {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(r: &mut impl Read) -> std::io::Result<ChunkId> {
        Ok(ChunkId(array(r)?))
    }
}

impl<T: Record> Record for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                t.encode(out);
            }
        }
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Option<T>> {
        Ok(match array::<1>(r)?[0] {
            0 => None,
            _ => Some(T::decode(r)?),
        })
    }
}

impl Record for crate::statcache::Record {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, &self.0);
        match &self.1 {
            None => out.push(0),
            Some((key, digest, chunks)) => {
                out.push(1);
                put_key(out, key);
                out.extend_from_slice(digest.as_bytes());
                put_chunks(out, chunks);
            }
        }
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Self> {
        let rel = get_bytes(r)?;
        let rec = match array::<1>(r)?[0] {
            0 => None,
            _ => Some((get_key(r)?, Digest(array(r)?), get_chunks(r)?)),
        };
        Ok((rel, rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u8, chunks: usize) -> FlatEntry {
        FlatEntry::File {
            size: n as u64 * 1000,
            digest: Digest([n; 32]),
            executable: n % 2 == 0,
            chunks: (0..chunks)
                .map(|i| ChunkRef {
                    id: ChunkId([n ^ i as u8; 32]),
                    len: i as u32 + 7,
                })
                .collect(),
        }
    }

    #[test]
    fn runs_read_back_as_written_and_again() {
        let dir = tempfile::tempdir().expect("spool");
        let mut w = Writer::<Option<FlatEntry>>::new(dir.path()).expect("spool");
        let first: Vec<Option<FlatEntry>> = vec![
            Some(file(1, 3)),
            None,
            Some(FlatEntry::Dir),
            Some(FlatEntry::Symlink {
                target: b"../x".to_vec(),
            }),
        ];
        for r in &first {
            w.push(r).expect("spool");
        }
        let a = w.mark();
        let second: Vec<Option<FlatEntry>> =
            (0..5000).map(|i| Some(file(i as u8, i % 4))).collect();
        for r in &second {
            w.push(r).expect("spool");
        }
        let b = w.mark();
        let spool = w.finish().expect("spool");
        // Out of order, and each more than once.
        for _ in 0..2 {
            let mut r = spool.read_run(b).expect("spool");
            assert_eq!(r.batch(usize::MAX).expect("spool"), second);
            let mut r = spool.read_run(a).expect("spool");
            assert_eq!(r.batch(3).expect("spool"), first[..3]);
            assert_eq!(r.batch(3).expect("spool"), first[3..]);
            assert!(r.next().expect("spool").is_none());
        }
        let all: Vec<_> = spool
            .read()
            .expect("spool")
            .batch(usize::MAX)
            .expect("spool");
        assert_eq!(all.len(), first.len() + second.len());
        // Nothing is left in the directory: the file has no name.
        assert_eq!(std::fs::read_dir(dir.path()).expect("spool").count(), 0);
    }
}
