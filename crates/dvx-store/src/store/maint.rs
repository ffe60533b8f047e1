//! Maintenance of a store: freshening objects against gc, merging and rebuilding the index,
//! removing leftovers of interrupted writes.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::Store;
use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::PackId;
use crate::index::{self, IndexFile, Location};
use crate::pack;

/// Age below which [`Store::freshen`] leaves an object alone: it is well inside gc's grace
/// period already, and a command that reuses many objects then writes each mtime once.
const FRESH_FOR: Duration = Duration::from_secs(60);

impl Store {
    /// Marks an object as recently used by setting its mtime to now (when it is older than
    /// [`FRESH_FOR`]), so that gc's grace period covers objects a running command relies on.
    /// Best effort: a read-only store is left alone.
    pub fn freshen(&self, path: &Path) {
        sfs::touch_if_older(path, FRESH_FOR);
    }

    /// Merges all index files into one when there are more than `threshold`.
    pub fn merge_indexes(&self, threshold: usize) -> Result<()> {
        let paths = self.list_index_files()?;
        if paths.len() <= threshold {
            return Ok(());
        }
        // Merged as streams: memory does not grow with the number of chunks.
        let mut files = Vec::new();
        for p in paths {
            match IndexFile::open(&p) {
                Ok(f) => files.push(f),
                // Merged away by a concurrent writer: its entries are in the merged file.
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        index::bound_residency(&mut files);
        let merged = index::write_merged(&self.index_dir(), &files, &|_| true)?;
        // Unmapped before they are removed (Windows refuses to delete a mapped file).
        let inputs: Vec<_> = files.iter().map(|f| f.path().to_path_buf()).collect();
        drop(files);
        for p in inputs {
            if Some(&p) != merged.as_ref() {
                sfs::remove_file_if_exists(&p)?;
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(())
    }

    /// Replaces every index file by one that lists the same chunks minus those in `doomed`
    /// packs (gc calls this before deleting them). Index files written concurrently, after
    /// the listing, are left alone.
    pub fn reindex_without(&self, doomed: &HashSet<PackId>) -> Result<()> {
        let old = self.list_index_files()?;
        let mut files = Vec::new();
        for p in &old {
            match IndexFile::open(p) {
                Ok(f) => files.push(f),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                // A damaged index is replaced too; its packs stay readable via their trailers.
                Err(Error::CorruptIndex { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        index::bound_residency(&mut files);
        let merged =
            index::write_merged(&self.index_dir(), &files, &|l| !doomed.contains(&l.pack))?;
        drop(files);
        for p in old {
            if Some(&p) != merged.as_ref() {
                sfs::remove_file_if_exists(&p)?;
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(())
    }

    /// Rebuilds the index from the pack trailers alone: writes one index covering every
    /// readable pack and removes the old index files. Returns the packs that could not be read.
    pub fn rebuild_index(&self) -> Result<Vec<(PackId, Error)>> {
        let mut all = Vec::new();
        let mut bad = Vec::new();
        for id in self.list_packs()? {
            let path = self.pack_path(&id);
            let res = sfs::open(&path).and_then(|f| pack::read_trailer(&f, &path));
            match res {
                Ok(entries) => all.extend(entries.iter().map(|e| (e.id, Location::of(id, e)))),
                Err(e) => bad.push((id, e)),
            }
        }
        let old = self.list_index_files()?;
        let merged = index::write_index(&self.index_dir(), all)?;
        for p in old {
            if p != merged {
                let _ = sfs::remove_file_if_exists(&p);
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(bad)
    }

    /// Removes leftovers of interrupted writes older than `min_age` (temporary files).
    pub fn clean_temp_files(&self, min_age: Duration) -> Result<u64> {
        let mut dirs = vec![self.packs_dir(), self.index_dir(), self.trees_dir()];
        for d in [self.packs_dir(), self.trees_dir()] {
            dirs.extend(sfs::subdirs(&d));
        }
        let removed = dirs
            .iter()
            .map(|d| sfs::remove_old_temp_files(d, min_age))
            .sum();
        Ok(removed)
    }
}
