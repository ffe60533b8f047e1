//! Lookups in a large index file, resident (mapped) and bounded (read by `pread`,
//! `index::bound_residency`): time per lookup and the mapped pages left resident; then the
//! same entries in 70 files (a remote's index), looked up one by one and in ascending order.
//!
//! `cargo bench -p dvx-store --bench index_lookups -- 3000000` (default 1,000,000 entries;
//! docs/PERFORMANCE.md has the figures; add `bounded` to skip the resident run). Linux only:
//! it reads `RssFile` from /proc.

use std::io::Write;
use std::time::Instant;

use dvx_store::index::{bound_residency, write_index, IndexFile, Location, Window};
use dvx_store::{ChunkId, Compression, PackId};

/// Resident pages of mapped files, in KiB.
fn rss_file_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn say(line: String) {
    writeln!(std::io::stdout(), "{line}").expect("stdout");
}

fn run(what: &str, idx: &IndexFile, ids: &[ChunkId]) {
    let n = ids.len() as u64;
    let t = Instant::now();
    let mut found = 0u64;
    // The ids are hashes, so their creation order is a random order in the index; read in
    // that order, the ids themselves cost no cache misses.
    for id in ids {
        found += u64::from(idx.lookup(id).expect("lookup").is_some());
    }
    let hits = t.elapsed().as_nanos() as f64 / n as f64;
    let hits_rss = rss_file_kib();
    let t = Instant::now();
    for i in 0..n {
        let absent = ChunkId::of(&(i + n).to_le_bytes());
        assert!(idx.lookup(&absent).expect("lookup").is_none());
    }
    let misses = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(found, n);
    say(format!(
        "{what:>9}: {n} hits {hits:.0} ns each (mapped pages resident after: {} MiB), {n} misses \
         {misses:.0} ns each ({} MiB)",
        hits_rss / 1024,
        rss_file_kib() / 1024
    ));
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let pack = PackId::of(b"pack");
    let ids: Vec<ChunkId> = (0..n).map(|i| ChunkId::of(&i.to_le_bytes())).collect();
    let entries = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let at = Location {
                pack,
                offset: i as u64,
                stored_len: 1,
                raw_len: 1,
                compression: Compression::None,
            };
            (*id, at)
        })
        .collect();
    let path = write_index(dir.path(), entries).expect("write");
    say(format!(
        "index of {n} entries: {} MiB",
        std::fs::metadata(&path).expect("stat").len() >> 20
    ));
    // Warm the page cache, so both runs read from memory and not the first one from disk.
    std::io::copy(
        &mut std::fs::File::open(&path).expect("open"),
        &mut std::io::sink(),
    )
    .expect("read");
    // `bounded` alone: to watch the process's peak from outside.
    if !std::env::args().any(|a| a == "bounded") {
        run("resident", &IndexFile::open(&path).expect("open"), &ids);
    }
    let mut files = [IndexFile::open(&path).expect("open")];
    bound_residency(&mut files);
    run("bounded", &files[0], &ids);
    drop(files);
    many_files(dir.path(), &ids, 70);
}

/// The same entries in `k` files (a remote's index: one object per pushed pack), read by
/// `pread`: every id looked up in each file in turn until found, in the ids' order and then
/// in ascending order through one window per file (`IndexFile::lookup_ascending`, as fetch
/// asks).
fn many_files(dir: &std::path::Path, ids: &[ChunkId], k: usize) {
    let sub = dir.join("many");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let mut files: Vec<IndexFile> = ids
        .chunks(ids.len().div_ceil(k))
        .enumerate()
        .map(|(f, part)| {
            let pack = PackId::of(&f.to_le_bytes());
            let entries = part
                .iter()
                .map(|id| {
                    let at = Location {
                        pack,
                        offset: 0,
                        stored_len: 1,
                        raw_len: 1,
                        compression: Compression::None,
                    };
                    (*id, at)
                })
                .collect();
            IndexFile::open(&write_index(&sub, entries).expect("write")).expect("open")
        })
        .collect();
    bound_residency(&mut files);
    let find = |id: &ChunkId| files.iter().find_map(|f| f.lookup(id).expect("lookup"));
    let t = Instant::now();
    assert!(ids.iter().all(|id| find(id).is_some()));
    let one_by_one = t.elapsed().as_nanos() as f64 / ids.len() as f64;
    let mut sorted = ids.to_vec();
    sorted.sort();
    let mut windows: Vec<Window> = files.iter().map(|_| Window::default()).collect();
    let t = Instant::now();
    for id in &sorted {
        let hit = files
            .iter()
            .zip(windows.iter_mut())
            .find_map(|(f, w)| f.lookup_ascending(id, w).expect("lookup"));
        assert!(hit.is_some());
    }
    let ascending = t.elapsed().as_nanos() as f64 / ids.len() as f64;
    say(format!(
        "{k} files: {} hits {one_by_one:.0} ns each one by one, {ascending:.0} ns each in \
         ascending order",
        ids.len()
    ));
}
