//! `dvx push`, `fetch`, `pull` and `status --remote`: moving packs, indexes and trees
//! between the local store and a remote [`Backend`].
//!
//! Remote layout (docs/FORMAT.md): `packs/<2hex>/<id>.pack`, `index/<sum>.idx`,
//! `trees/<2hex>/<id>`. Push uploads packs, then each pack's index, then trees bottom-up,
//! so a root tree present on the remote means its data is complete, and concurrent pushers
//! need no lock. Fetch downloads trees, then only the chunks it lacks with merged byte-range
//! reads (several in flight, each chunk verified on arrival), into packs sealed every 16 MiB
//! so an interrupted transfer keeps what it received.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use dvx_manifest::{EntryKind, Pointer, Tree};
use dvx_store::index::{self, IndexFile, Location};
use dvx_store::pack::{self, Compression, PackBuffer, PackEntry};
use dvx_store::{Backend, BackendError, ChunkId, ObjectInfo, PackId, TreeId};
use rayon::prelude::*;

use crate::checkout::{checkout, CheckoutOptions, CheckoutReport};
use crate::config::AwsEnv;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::remote::open_remote;
use crate::treeio::read_tree;
use crate::workspace::{join_rel, Workspace};

/// Concurrent requests for downloads and tree uploads.
const PARALLEL_REQUESTS: usize = 8;
/// Byte ranges closer than this are fetched in one request.
const MAX_RANGE_GAP: u64 = 256 << 10;
/// Upper bound of one ranged read (bounds memory: requests in flight x this).
const MAX_RANGE_LEN: u64 = 8 << 20;
/// Packs uploaded by push are at most this size (they are assembled in memory).
const PUSH_PACK_SIZE: u64 = 48 << 20;
/// Stored bytes read, verified and compressed at once by push.
const PUSH_BATCH_BYTES: u64 = 4 << 20;
/// Batches whose pack reads are started ahead of the one being prepared.
const PREFETCH_BATCHES: usize = 3;
/// Packs written by downloads are sealed at this size.
const FETCH_PACK_SIZE: u64 = 16 << 20;

/// What a transfer did.
#[derive(Clone, Debug, Default)]
pub struct TransferReport {
    /// Remote name and URL.
    pub remote: String,
    /// Dataset versions concerned.
    pub datasets: u64,
    /// Files in them.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Bytes sent (push) or received (fetch).
    pub transferred: u64,
    /// Objects uploaded (push) or downloaded (fetch).
    pub objects: u64,
    /// Requests made.
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
    /// For pull: what the checkout did.
    pub checkout: Option<CheckoutReport>,
}

/// Counts requests, objects and bytes of the calls it forwards.
pub(crate) struct Counting<'a> {
    inner: &'a dyn Backend,
    requests: AtomicU64,
    objects: AtomicU64,
    bytes: AtomicU64,
}

impl<'a> Counting<'a> {
    pub(crate) fn new(inner: &'a dyn Backend) -> Counting<'a> {
        Counting {
            inner,
            requests: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
    fn count(&self, objects: u64, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn list(&self, prefix: &str) -> std::result::Result<Vec<ObjectInfo>, BackendError> {
        self.count(0, 0);
        self.inner.list(prefix)
    }
    pub(crate) fn get(
        &self,
        key: &str,
        max_len: u64,
    ) -> std::result::Result<Vec<u8>, BackendError> {
        let r = self.inner.get(key, max_len)?;
        self.count(1, r.len() as u64);
        Ok(r)
    }
    pub(crate) fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> std::result::Result<Vec<u8>, BackendError> {
        let r = self.inner.get_range(key, offset, len)?;
        self.count(0, r.len() as u64);
        Ok(r)
    }
    pub(crate) fn put(&self, key: &str, data: Vec<u8>) -> std::result::Result<(), BackendError> {
        let n = data.len() as u64;
        self.inner.put(key, data)?;
        self.count(1, n);
        Ok(())
    }
    pub(crate) fn check_reachable(&self) -> std::result::Result<(), BackendError> {
        self.inner.check_reachable()
    }
}

/// The trees on the remote, by listing. An object too small or too large to be a tree object
/// is not one (it is damaged): it counts as absent, so push uploads the tree again.
pub(crate) fn list_remote_trees(
    b: &Counting<'_>,
) -> std::result::Result<HashSet<TreeId>, BackendError> {
    Ok(b.list("trees/")?
        .iter()
        .filter(|o| (TREE_OBJECT_MIN_LEN..=dvx_store::MAX_TREE_OBJECT_LEN).contains(&o.size))
        .filter_map(|o| parse_tree_key(&o.key))
        .collect())
}

/// Header bytes of a tree object file (FORMAT.md): nothing shorter is one.
const TREE_OBJECT_MIN_LEN: u64 = 24;

pub(crate) fn pack_key(id: &PackId) -> String {
    let h = id.to_hex();
    format!("packs/{}/{h}.pack", &h[..2])
}

pub(crate) fn tree_key(id: &TreeId) -> String {
    let h = id.to_hex();
    format!("trees/{}/{h}", &h[..2])
}

pub(crate) fn parse_tree_key(key: &str) -> Option<TreeId> {
    key.rsplit('/').next()?.parse().ok()
}

pub(crate) fn parse_pack_key(key: &str) -> Option<PackId> {
    key.rsplit('/').next()?.strip_suffix(".pack")?.parse().ok()
}

/// The remote's chunk index: its index files (cached locally, they are immutable) plus the
/// trailers of packs no index lists yet (a push interrupted between a pack and its index),
/// checked against the packs the remote really holds: an index may outlive a pack (deleted by
/// hand, lost in a restore), and a chunk counts as on the remote only if its pack is listed
/// and long enough to hold it.
pub(crate) struct RemoteIndex {
    files: Vec<IndexFile>,
    /// The packs listed on the remote, with their sizes.
    pub(crate) packs: HashMap<PackId, u64>,
    /// Keys of the index files loaded (`index/<sum>.idx`).
    pub(crate) keys: Vec<String>,
    extra: HashMap<ChunkId, Location>,
    cache_dir: PathBuf,
    /// Index files that could not be used (key, what is wrong): their packs are read through
    /// their trailers instead.
    pub(crate) damaged: Vec<(String, String)>,
}

impl RemoteIndex {
    pub(crate) fn load(
        ws: &Workspace,
        b: &Counting<'_>,
        label: &str,
        url: &str,
    ) -> Result<RemoteIndex> {
        let rerr = |e| Error::Remote {
            remote: label.to_string(),
            source: e,
        };
        let cache_dir = ws
            .state_dir()
            .join("remote-cache")
            .join(&blake3::hash(url.as_bytes()).to_hex()[..16])
            .join("index");
        crate::fsx::create_dir_all(&cache_dir)?;
        let mut files = Vec::new();
        let mut keys = Vec::new();
        let mut damaged = Vec::new();
        for obj in b.list("index/").map_err(rerr)? {
            let Some(name) = obj
                .key
                .strip_prefix("index/")
                .and_then(|k| k.strip_suffix(".idx"))
            else {
                continue;
            };
            if name.len() != 64 || !name.bytes().all(|c| c.is_ascii_hexdigit()) {
                continue;
            }
            let local = cache_dir.join(format!("{name}.idx"));
            if !local.is_file() {
                // Bounded by the size its header declares: the remote is not trusted. An
                // object that cannot be read as an index (not a regular file, too large) is
                // a damaged index; anything else (network, access) stops the command.
                let fetched =
                    b.get_range(&obj.key, 0, index::HEADER_LEN as u64)
                        .and_then(|header| match index::file_len_from_header(&header) {
                            Some(max_len) => b.get(&obj.key, max_len).map(Some),
                            None => Ok(None),
                        });
                let data = match fetched {
                    Ok(Some(d)) => d,
                    Ok(None) => {
                        damaged.push((
                            obj.key.clone(),
                            "is not an index file this dvx reads (bad header)".to_string(),
                        ));
                        continue;
                    }
                    Err(e @ BackendError::Permanent { .. }) => {
                        damaged.push((obj.key.clone(), format!("cannot be used: {e}")));
                        continue;
                    }
                    Err(e) => return Err(rerr(e)),
                };
                let ok = data.len() >= 32
                    && blake3::hash(&data[..data.len() - 32]).to_hex().as_str() == name;
                if !ok {
                    // An index only speeds up lookups: the packs it lists describe
                    // themselves, so they are read through their trailers below.
                    damaged.push((
                        obj.key.clone(),
                        "is corrupt (its checksum does not match its name)".to_string(),
                    ));
                    continue;
                }
                crate::fsx::write_atomic(&local, &data)?;
            }
            match IndexFile::open(&local) {
                Ok(f) => files.push(f),
                Err(e) => {
                    // Downloaded again next time (the copy here may be what is damaged).
                    let _ = std::fs::remove_file(&local);
                    damaged.push((obj.key.clone(), format!("cannot be used: {e}")));
                    continue;
                }
            }
            keys.push(obj.key.clone());
        }
        let indexed: HashSet<PackId> = files
            .iter()
            .flat_map(|f| f.packs().iter().copied())
            .collect();
        let mut extra = HashMap::new();
        let mut packs = HashMap::new();
        for obj in b.list("packs/").map_err(rerr)? {
            let Some(id) = parse_pack_key(&obj.key) else {
                continue;
            };
            packs.insert(id, obj.size);
            if indexed.contains(&id) {
                continue;
            }
            let key = obj.key.clone();
            let entries = pack::read_trailer_with(Path::new(&key), obj.size, |buf, off| {
                let data = b.get_range(&key, off, buf.len() as u64).map_err(|e| {
                    dvx_store::Error::CorruptPack {
                        path: PathBuf::from(&key),
                        detail: e.to_string(),
                    }
                })?;
                if data.len() != buf.len() {
                    return Err(dvx_store::Error::CorruptPack {
                        path: PathBuf::from(&key),
                        detail: "short read".into(),
                    });
                }
                buf.copy_from_slice(&data);
                Ok(())
            });
            // A damaged unindexed pack is simply not used; fsck reports it.
            if let Ok(entries) = entries {
                for e in entries {
                    extra.entry(e.id).or_insert(loc_of(id, &e));
                }
            }
        }
        Ok(RemoteIndex {
            files,
            packs,
            keys,
            extra,
            cache_dir,
            damaged,
        })
    }

    /// Every known chunk location (index files and unindexed packs).
    pub(crate) fn all_entries(&self) -> Result<Vec<(ChunkId, Location)>> {
        let mut out: Vec<(ChunkId, Location)> = self.extra.iter().map(|(c, l)| (*c, *l)).collect();
        for f in &self.files {
            out.extend(f.entries()?);
        }
        Ok(out)
    }

    /// Tells the user about every index file that could not be used.
    pub(crate) fn warn_damaged(&self, label: &str, progress: &dyn Progress) {
        for (key, problem) in &self.damaged {
            progress.warn(&format!(
                "remote {label}: {key} {problem}; the packs it lists were read through their \
                 own trailers instead (slower). `dvx fsck --remote <name>` checks the remote"
            ));
        }
    }

    /// Where the chunk is on the remote: a location in a pack that exists there and is long
    /// enough to hold it, or None (the chunk must be uploaded again).
    pub(crate) fn lookup(&self, id: &ChunkId) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        for f in &self.files {
            if let Some(l) = f.lookup(id)? {
                if self.holds(&l) {
                    return Ok(Some(l));
                }
            }
        }
        Ok(None)
    }

    /// Where an index file says the chunk is, whether or not that pack exists (for fsck).
    pub(crate) fn lookup_indexed(&self, id: &ChunkId) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        for f in &self.files {
            if let Some(l) = f.lookup(id)? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// True when the listed pack of `l` exists and reaches past the chunk.
    pub(crate) fn holds(&self, l: &Location) -> bool {
        self.packs
            .get(&l.pack)
            .is_some_and(|size| l.offset + l.stored_len as u64 <= *size)
    }
}

fn loc_of(pack: PackId, e: &PackEntry) -> Location {
    Location {
        pack,
        offset: e.offset,
        stored_len: e.stored_len,
        raw_len: e.raw_len,
        compression: e.compression,
    }
}

/// Runs `f` over `items` with up to `n` threads; stops at the first error.
fn parallel<T: Sync>(items: &[T], n: usize, f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..n.min(items.len()).max(1) {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                if let Err(e) = f(item) {
                    stop.store(true, Ordering::Relaxed);
                    let mut slot = first_err.lock().expect("error slot poisoned");
                    if slot.is_none() {
                        *slot = Some(e);
                    }
                    return;
                }
            });
        }
    });
    match first_err.into_inner().expect("error slot poisoned") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Options of `push`.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Revisions whose pointers to push (empty: HEAD and the worktree).
    pub revs: Vec<String>,
    /// Every pointer in every commit reachable from any ref.
    pub all_revs: bool,
    /// Remote name (default remote if None).
    pub remote: Option<String>,
}

fn dedup_versions(mut v: Vec<Pointer>) -> Vec<Pointer> {
    let mut seen = HashSet::new();
    v.retain(|p| seen.insert((p.path.clone(), p.id)));
    v
}

/// Pushing moves data only, so versions with overlapping pointers are pushed too (a checkout
/// of them refuses).
fn versions_to_push(ws: &Workspace, opts: &PushOptions) -> Result<Vec<Pointer>> {
    let mut out = Vec::new();
    if opts.all_revs {
        for c in ws.repo.all_commits()? {
            out.extend(ws.pointers_at_unchecked(&c)?.into_iter().map(|(p, _)| p));
        }
        out.extend(ws.all_worktree_pointers_unchecked()?);
    } else if opts.revs.is_empty() {
        if let Some(head) = ws.repo.head()? {
            out.extend(ws.pointers_at_unchecked(&head)?.into_iter().map(|(p, _)| p));
        }
        out.extend(ws.all_worktree_pointers_unchecked()?);
    } else {
        for r in &opts.revs {
            let c = ws.repo.resolve(r)?;
            out.extend(ws.pointers_at_unchecked(&c)?.into_iter().map(|(p, _)| p));
        }
    }
    Ok(dedup_versions(out))
}

/// Uploads what the selected versions need and the remote lacks.
pub fn push(
    ws: &Workspace,
    opts: &PushOptions,
    env: &AwsEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    ws.require_init()?;
    let remote = open_remote(ws, opts.remote.as_deref(), env)?;
    let label = format!("{} ({})", remote.name, remote.url);
    let versions = versions_to_push(ws, opts)?;
    push_to(
        ws,
        remote.backend.as_ref(),
        &label,
        &remote.url,
        &versions,
        progress,
    )
}

/// Pushes `versions` to an opened backend (`label` names it in messages, `url` keys the
/// local cache of its indexes).
pub(crate) fn push_to(
    ws: &Workspace,
    backend: &dyn Backend,
    label: &str,
    url: &str,
    versions: &[Pointer],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let started = Instant::now();
    let label = label.to_string();
    let rerr = |e| Error::Remote {
        remote: label.clone(),
        source: e,
    };
    let b = Counting::new(backend);
    let store = ws.store()?;

    let remote_trees = list_remote_trees(&b).map_err(rerr)?;
    // Every tree of the versions, with its height (leaves 0), and every chunk below them. A
    // tree on the remote does not prove that what it names is there too (a pack may have been
    // lost since): everything is checked against the remote's listing, and what is missing is
    // sent again, so a push repairs the remote.
    let mut heights: HashMap<TreeId, u32> = HashMap::new();
    let mut chunks: HashSet<ChunkId> = HashSet::new();
    fn walk(
        store: &dvx_store::Store,
        id: &TreeId,
        heights: &mut HashMap<TreeId, u32>,
        chunks: &mut HashSet<ChunkId>,
        depth: usize,
    ) -> Result<u32> {
        if let Some(h) = heights.get(id) {
            return Ok(*h);
        }
        if depth > dvx_manifest::limits::MAX_DEPTH {
            return Err(Error::Store(dvx_store::Error::CorruptTree {
                id: *id,
                detail: "nested too deeply".into(),
            }));
        }
        let tree = read_tree(store, id)?;
        let mut h = 0;
        for e in tree.entries() {
            match &e.kind {
                EntryKind::Dir { id: sub, .. } => {
                    h = h.max(walk(store, sub, heights, chunks, depth + 1)? + 1)
                }
                EntryKind::File { chunks: c, .. } => chunks.extend(c.iter().map(|c| c.id)),
                EntryKind::Symlink { .. } => {}
            }
        }
        heights.insert(*id, h);
        Ok(h)
    }
    let mut report = TransferReport {
        remote: label.clone(),
        ..TransferReport::default()
    };
    for p in versions {
        if !store.has_tree(&p.id) {
            return Err(Error::MissingVersion {
                path: p.path.clone(),
                id: p.id,
            });
        }
        walk(store, &p.id, &mut heights, &mut chunks, 0)?;
        report.datasets += 1;
        report.files = report.files.saturating_add(p.files);
        report.bytes = report.bytes.saturating_add(p.bytes);
    }

    if !chunks.is_empty() {
        let rindex = RemoteIndex::load(ws, &b, &label, url)?;
        rindex.warn_damaged(&label, progress);
        let mut missing = Vec::new();
        let mut lost = HashSet::new();
        for c in &chunks {
            if rindex.lookup(c)?.is_none() {
                match store.lookup(c)? {
                    Some(loc) => missing.push((*c, loc)),
                    None => {
                        lost.insert(*c);
                    }
                }
            }
        }
        if let Some(c) = lost.iter().next() {
            return Err(Error::RemoteObject {
                remote: label.clone(),
                object: format!("chunk {c}"),
                problem: format!(
                    "is missing, and this machine does not have it either ({} chunk(s) in all)",
                    lost.len()
                ),
                files: files_with_chunks(store, versions, &lost)?,
            });
        }
        // Read the local packs sequentially.
        missing.sort_by_key(|(_, l)| (l.pack, l.offset));
        upload_packs(ws, store, &b, &label, &rindex.cache_dir, &missing, progress)?;
    }

    // Trees bottom-up: a parent only after all its children are on the remote.
    heights.retain(|id, _| !remote_trees.contains(id));
    let mut levels: BTreeMap<u32, Vec<TreeId>> = BTreeMap::new();
    for (id, h) in &heights {
        levels.entry(*h).or_default().push(*id);
    }
    progress.begin("trees", Some(heights.len() as u64), Unit::Items);
    for ids in levels.values() {
        parallel(ids, PARALLEL_REQUESTS, |id| {
            let bytes = store.tree_object_bytes(id)?;
            b.put(&tree_key(id), bytes).map_err(rerr)?;
            progress.advance(1);
            Ok(())
        })?;
    }
    progress.end();
    report.transferred = b.bytes.load(Ordering::Relaxed);
    report.objects = b.objects.load(Ordering::Relaxed);
    report.requests = b.requests.load(Ordering::Relaxed);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The dataset files (at most 50) of `versions` that hold any of `wanted`, from the local trees.
fn files_with_chunks(
    store: &dvx_store::Store,
    versions: &[Pointer],
    wanted: &HashSet<ChunkId>,
) -> Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    for p in versions {
        let base = crate::workspace::Dataset {
            path: p.path.clone(),
            kind: p.kind,
        }
        .base();
        let mut stack = vec![(String::new(), p.id)];
        while let Some((prefix, id)) = stack.pop() {
            for e in read_tree(store, &id)?.entries() {
                let rel = join_rel(&prefix, &String::from_utf8_lossy(&e.name));
                match &e.kind {
                    EntryKind::Dir { id, .. } => stack.push((rel, *id)),
                    EntryKind::File { chunks, .. } => {
                        if chunks.iter().any(|c| wanted.contains(&c.id)) {
                            out.insert(join_rel(&base, &rel));
                        }
                    }
                    EntryKind::Symlink { .. } => {}
                }
            }
            if out.len() >= 50 {
                return Ok(out.into_iter().collect());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// A chunk ready to be appended to an upload pack: id, compression, stored bytes, raw length.
type Prepared = (ChunkId, Compression, Vec<u8>, u32);

/// Repacks the missing chunks (verified) into new packs and uploads each pack, then its
/// index, while the next pack is being built.
fn upload_packs(
    ws: &Workspace,
    store: &dvx_store::Store,
    b: &Counting<'_>,
    label: &str,
    cache_dir: &Path,
    missing: &[(ChunkId, Location)],
    progress: &dyn Progress,
) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let scratch = ws
        .dvx_dir()
        .join("tmp")
        .join(format!("push-{}-{nanos:x}", std::process::id()));
    crate::fsx::create_dir_all(&scratch)?;
    let result = (|| -> Result<()> {
        let total: u64 = missing.iter().map(|(_, l)| l.stored_len as u64).sum();
        progress.begin("uploading", Some(total), Unit::Bytes);
        // Packs are assembled in memory (no scratch file written and read back): one being
        // built while the previous one uploads, so memory stays near two packs.
        let pack_size = store.config().pack_size.min(PUSH_PACK_SIZE);
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<((PackId, Vec<PackEntry>, Vec<u8>), u64)>(0);
            let scratch_ref = &scratch;
            let uploader = s.spawn(move || -> Result<()> {
                for ((id, entries, data), n) in rx {
                    b.put(&pack_key(&id), data).map_err(|e| Error::Remote {
                        remote: label.to_string(),
                        source: e,
                    })?;
                    let idx_entries = entries.iter().map(|e| (e.id, loc_of(id, e))).collect();
                    let idx = index::write_index(scratch_ref, idx_entries)?;
                    let name = idx
                        .file_name()
                        .expect("index file has a name")
                        .to_string_lossy()
                        .into_owned();
                    let data = crate::fsx::read(&idx)?;
                    b.put(&format!("index/{name}"), data.clone())
                        .map_err(|e| Error::Remote {
                            remote: label.to_string(),
                            source: e,
                        })?;
                    crate::fsx::write_atomic(&cache_dir.join(&name), &data)?;
                    crate::fsx::remove_file(&idx)?;
                    progress.advance(n);
                }
                Ok(())
            });
            let mut builder: Option<(PackBuffer, u64)> = None;
            let mut send_err = false;
            let level = store.config().remote_zstd_level;
            // Batches of a few MiB: read, verified and (raw chunks) compressed on every core,
            // then appended in order.
            let mut batches: Vec<&[(ChunkId, Location)]> = Vec::new();
            let mut start = 0;
            let mut acc = 0u64;
            for (i, (_, l)) in missing.iter().enumerate() {
                acc += l.stored_len as u64;
                if acc >= PUSH_BATCH_BYTES {
                    batches.push(&missing[start..=i]);
                    start = i + 1;
                    acc = 0;
                }
            }
            if start < missing.len() {
                batches.push(&missing[start..]);
            }
            // The packs are often not in the page cache (they are written around it): the
            // reads of the next batches are started before this one is prepared.
            let prefetch = |batch: &[(ChunkId, Location)]| {
                let mut i = 0;
                while i < batch.len() {
                    let pack = batch[i].1.pack;
                    let start = batch[i].1.offset;
                    let mut end = start + batch[i].1.stored_len as u64;
                    i += 1;
                    while i < batch.len() && batch[i].1.pack == pack {
                        end = end.max(batch[i].1.offset + batch[i].1.stored_len as u64);
                        i += 1;
                    }
                    store.will_need(&pack, start, end - start);
                }
            };
            for batch in batches.iter().take(PREFETCH_BATCHES) {
                prefetch(batch);
            }
            'batches: for (bi, &batch) in batches.iter().enumerate() {
                if let Some(next) = batches.get(bi + PREFETCH_BATCHES) {
                    prefetch(next);
                }
                let prepared: Vec<Result<Prepared>> = batch
                    .par_iter()
                    .map(|(id, loc)| {
                        let stored = store.read_stored(loc)?;
                        let entry = PackEntry {
                            id: *id,
                            offset: loc.offset,
                            stored_len: loc.stored_len,
                            raw_len: loc.raw_len,
                            compression: loc.compression,
                        };
                        // Never spread a damaged chunk: verify before it leaves the machine.
                        if loc.compression == Compression::None {
                            let raw = pack::decode_chunk_owned(&entry, &loc.pack, stored)?;
                            let (c, bytes) = pack::encode_chunk(&raw, level);
                            let bytes = match bytes {
                                std::borrow::Cow::Owned(b) => b,
                                std::borrow::Cow::Borrowed(_) => raw,
                            };
                            Ok((*id, c, bytes, loc.raw_len))
                        } else {
                            pack::decode_chunk(&entry, &loc.pack, &stored)?;
                            Ok((*id, loc.compression, stored, loc.raw_len))
                        }
                    })
                    .collect();
                for (r, (_, loc)) in prepared.into_iter().zip(batch) {
                    let (id, compression, bytes, raw_len) = r?;
                    let (bl, src) = builder.get_or_insert_with(|| (PackBuffer::new(), 0));
                    bl.append(id, compression, &bytes, raw_len);
                    // Progress counts local stored bytes (the total it was started with).
                    *src += loc.stored_len as u64;
                    if bl.len() >= pack_size {
                        let (full, src) = builder.take().expect("present");
                        if tx.send((full.finish(), src)).is_err() {
                            send_err = true;
                            break 'batches;
                        }
                    }
                }
            }
            if !send_err {
                if let Some((last, src)) = builder.take() {
                    let _ = tx.send((last.finish(), src));
                }
            }
            drop(tx);
            uploader.join().expect("uploader thread panicked")
        })?;
        progress.end();
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Options of `fetch`.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// Revisions whose pointers to fetch (empty: the worktree's pointers).
    pub revs: Vec<String>,
    /// Datasets or paths inside them (empty: all).
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
    /// Remote name.
    pub remote: Option<String>,
}

/// One ranged read: pack, start offset, length, and the chunks inside it.
type RangeRead = (PackId, u64, u64, Vec<(ChunkId, Location)>);

/// (pointer, path below the dataset base; "" = whole dataset)
type Target = (Pointer, String);

fn fetch_targets_for(
    ws: &Workspace,
    rev: Option<&str>,
    paths: &[PathBuf],
    cwd: &Path,
) -> Result<Vec<Target>> {
    let commit = rev.map(|r| ws.repo.resolve(r)).transpose()?;
    if paths.is_empty() {
        return Ok(match &commit {
            Some(c) => ws
                .pointers_at(c)?
                .into_iter()
                .map(|(p, _)| (p, String::new()))
                .collect(),
            None => ws
                .all_worktree_pointers()?
                .into_iter()
                .map(|p| (p, String::new()))
                .collect(),
        });
    }
    let mut out = Vec::new();
    for p in paths {
        let rel = ws.dataset_path(cwd, p)?;
        let (ptr, _, below) =
            ws.find_dataset(commit.as_ref(), &rel)?
                .ok_or_else(|| Error::NotADataset {
                    pointer: dvx_manifest::pointer_path_for(&rel),
                    path: rel.clone(),
                    place: match rev {
                        Some(r) => format!("at revision {r}"),
                        None => "in the worktree".into(),
                    },
                })?;
        out.push((ptr, below));
    }
    Ok(out)
}

/// Fills the local store with what the selected versions need.
pub fn fetch(
    ws: &Workspace,
    opts: &FetchOptions,
    env: &AwsEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut targets = Vec::new();
    if opts.revs.is_empty() {
        targets = fetch_targets_for(ws, None, &opts.paths, &opts.cwd)?;
    } else {
        for r in &opts.revs {
            targets.extend(fetch_targets_for(ws, Some(r), &opts.paths, &opts.cwd)?);
        }
    }
    fetch_targets(ws, &targets, opts.remote.as_deref(), env, progress)
}

fn fetch_targets(
    ws: &Workspace,
    targets: &[Target],
    remote_name: Option<&str>,
    env: &AwsEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let remote = open_remote(ws, remote_name, env)?;
    let label = format!("{} ({})", remote.name, remote.url);
    fetch_from(
        ws,
        remote.backend.as_ref(),
        &label,
        &remote.url,
        targets,
        progress,
    )
}

/// Fetches `targets` from an opened backend.
pub(crate) fn fetch_from(
    ws: &Workspace,
    backend: &dyn Backend,
    label: &str,
    url: &str,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let started = Instant::now();
    let store = ws.store()?;
    let label = label.to_string();
    let b = Counting::new(backend);
    let mut report = TransferReport {
        remote: label.clone(),
        ..TransferReport::default()
    };
    // A remote that is not there (unmounted share) must not read as "objects missing".
    b.check_reachable().map_err(|e| Error::Remote {
        remote: label.clone(),
        source: e,
    })?;

    // 1. Trees: local ones are read, missing ones downloaded (verified), kept in memory and
    //    written to the store only after the chunks they name have arrived.
    let mut trees: HashMap<TreeId, Tree> = HashMap::new();
    let mut downloaded: Vec<(TreeId, Vec<u8>)> = Vec::new();
    #[allow(clippy::too_many_arguments)]
    fn get_tree(
        store: &dvx_store::Store,
        b: &Counting<'_>,
        label: &str,
        dataset: &str,
        id: &TreeId,
        trees: &mut HashMap<TreeId, Tree>,
        downloaded: &mut Vec<(TreeId, Vec<u8>)>,
        depth: usize,
    ) -> Result<()> {
        if trees.contains_key(id) {
            return Ok(());
        }
        if depth > dvx_manifest::limits::MAX_DEPTH {
            return Err(Error::Store(dvx_store::Error::CorruptTree {
                id: *id,
                detail: "nested too deeply".into(),
            }));
        }
        let tree = if store.has_tree(id) {
            read_tree(store, id)?
        } else {
            let obj = b
                .get(&tree_key(id), dvx_store::MAX_TREE_OBJECT_LEN)
                .map_err(|e| match e {
                    BackendError::NotFound { .. } => Error::RemoteObject {
                        remote: label.to_string(),
                        object: format!("tree {id}"),
                        problem: if depth == 0 && b.list("trees/").is_ok_and(|t| t.is_empty()) {
                            "is missing, and the remote holds no data at all (is it the right \
                         remote? is its share mounted?)"
                                .into()
                        } else {
                            "is missing".into()
                        },
                        files: vec![dataset.to_string()],
                    },
                    e => Error::Remote {
                        remote: label.to_string(),
                        source: e,
                    },
                })?;
            let corrupt = |detail: String| Error::RemoteObject {
                remote: label.to_string(),
                object: format!("tree {id}"),
                problem: format!("is corrupt ({detail})"),
                files: vec![dataset.to_string()],
            };
            let raw =
                dvx_store::decode_tree_object(id, &obj).map_err(|e| corrupt(e.to_string()))?;
            let t = Tree::decode(&raw).map_err(|e| corrupt(e.to_string()))?;
            downloaded.push((*id, obj));
            t
        };
        let subs: Vec<TreeId> = tree
            .entries()
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Dir { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        trees.insert(*id, tree);
        for s in subs {
            get_tree(store, b, label, dataset, &s, trees, downloaded, depth + 1)?;
        }
        Ok(())
    }
    for (p, _) in targets {
        get_tree(
            store,
            &b,
            &label,
            &p.path,
            &p.id,
            &mut trees,
            &mut downloaded,
            0,
        )?;
        report.datasets += 1;
        report.files = report.files.saturating_add(p.files);
        report.bytes = report.bytes.saturating_add(p.bytes);
    }

    // 2. Chunks the selected files need and the store lacks, with the files they serve.
    let mut needed: BTreeMap<ChunkId, Vec<String>> = BTreeMap::new();
    for (p, below) in targets {
        let base = crate::workspace::Dataset {
            path: p.path.clone(),
            kind: p.kind,
        }
        .base();
        let mut stack = vec![(String::new(), p.id)];
        while let Some((prefix, id)) = stack.pop() {
            let tree = trees.get(&id).expect("all trees were loaded above");
            for e in tree.entries() {
                let rel = join_rel(&prefix, &crate::names::rel_string(&e.name));
                let inside =
                    below.is_empty() || rel == *below || rel.starts_with(&format!("{below}/"));
                let on_the_way = below.starts_with(&format!("{rel}/"));
                match &e.kind {
                    EntryKind::Dir { id, .. } if inside || on_the_way => stack.push((rel, *id)),
                    EntryKind::File { chunks, .. } if inside => {
                        for c in chunks {
                            // An indexed chunk whose pack is gone is fetched again.
                            if !store.readable(&c.id)? {
                                let files = needed.entry(c.id).or_default();
                                if files.len() < 10 {
                                    files.push(join_rel(&base, &rel));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    if !needed.is_empty() {
        let rindex = RemoteIndex::load(ws, &b, &label, url)?;
        rindex.warn_damaged(&label, progress);
        let mut located: Vec<(ChunkId, Location)> = Vec::with_capacity(needed.len());
        // Every missing chunk is collected first, so the error names every file affected.
        let mut lost: Vec<(ChunkId, Option<PackId>)> = Vec::new();
        let mut lost_files = std::collections::BTreeSet::new();
        for (c, files) in &needed {
            match rindex.lookup(c)? {
                Some(l) => located.push((*c, l)),
                None => {
                    lost.push((*c, rindex.lookup_indexed(c)?.map(|l| l.pack)));
                    lost_files.extend(files.iter().cloned());
                }
            }
        }
        if let Some((c, pack)) = lost.first() {
            // Chunks all indexed in one pack that is gone: name the pack.
            let (object, problem) = match pack {
                Some(p) if lost.iter().all(|(_, q)| q.as_ref() == Some(p)) => (
                    format!("pack {p}"),
                    format!("is missing or truncated ({} chunk(s) lost)", lost.len()),
                ),
                _ => (
                    format!("chunk {c}"),
                    format!("is missing ({} chunk(s) in all)", lost.len()),
                ),
            };
            return Err(Error::RemoteObject {
                remote: label.clone(),
                object,
                problem,
                files: lost_files.into_iter().collect(),
            });
        }
        located.sort_by_key(|(_, l)| (l.pack, l.offset));
        // Files served by each pack, to name them all if the pack turns out missing.
        let mut pack_files: HashMap<PackId, std::collections::BTreeSet<String>> = HashMap::new();
        for (c, l) in &located {
            pack_files
                .entry(l.pack)
                .or_default()
                .extend(needed.get(c).into_iter().flatten().cloned());
        }
        // Merge neighbouring chunks of one pack into ranged reads.
        let mut ranges: Vec<RangeRead> = Vec::new();
        for (c, l) in located {
            let end = l.offset + l.stored_len as u64;
            if let Some(last) = ranges.last_mut() {
                if last.0 == l.pack
                    && l.offset >= last.1 + last.2
                    && l.offset - (last.1 + last.2) <= MAX_RANGE_GAP
                    && end - last.1 <= MAX_RANGE_LEN
                {
                    last.2 = end - last.1;
                    last.3.push((c, l));
                    continue;
                }
            }
            ranges.push((l.pack, l.offset, l.stored_len as u64, vec![(c, l)]));
        }
        let total: u64 = ranges.iter().map(|r| r.2).sum();
        progress.begin("downloading", Some(total), Unit::Bytes);
        // Through the page cache: a pull reads these chunks back right away.
        let writer = store.writer_with_pack_size(FETCH_PACK_SIZE).cached();
        let fetched = parallel(
            &ranges,
            PARALLEL_REQUESTS,
            |(pack_id, start, len, chunks)| {
                let key = pack_key(pack_id);
                let files_of = |c: &ChunkId| needed.get(c).cloned().unwrap_or_default();
                let data = b.get_range(&key, *start, *len).map_err(|e| match e {
                    BackendError::NotFound { .. } => Error::RemoteObject {
                        remote: label.clone(),
                        object: format!("pack {pack_id}"),
                        problem: "is missing".into(),
                        files: pack_files
                            .get(pack_id)
                            .map(|s| s.iter().cloned().collect())
                            .unwrap_or_default(),
                    },
                    e => Error::Remote {
                        remote: label.clone(),
                        source: e,
                    },
                })?;
                for (c, l) in chunks {
                    let from = (l.offset - start) as usize;
                    let to = from + l.stored_len as usize;
                    let entry = PackEntry {
                        id: *c,
                        offset: l.offset,
                        stored_len: l.stored_len,
                        raw_len: l.raw_len,
                        compression: l.compression,
                    };
                    let stored = data.get(from..to);
                    let verified = stored
                        .ok_or_else(|| "the pack is shorter than its index says".to_string())
                        .and_then(|s| {
                            pack::decode_chunk(&entry, pack_id, s)
                                .map(|_| s)
                                .map_err(|e| e.to_string())
                        });
                    let stored = verified.map_err(|detail| Error::RemoteObject {
                        remote: label.clone(),
                        object: format!("chunk {c} in pack {pack_id}"),
                        problem: format!("is corrupt ({detail})"),
                        files: files_of(c),
                    })?;
                    writer.add_stored(*c, l.compression, stored, l.raw_len)?;
                }
                progress.advance(*len);
                Ok(())
            },
        );
        progress.end();
        // Keep whatever arrived, even after an error: a rerun will not download it again.
        let finished = writer.finish();
        fetched?;
        finished?;
    }

    // 3. Trees last, children before parents.
    for (id, obj) in downloaded.iter().rev() {
        store.put_tree_object(id, obj)?;
    }
    report.transferred = b.bytes.load(Ordering::Relaxed);
    report.objects = b.objects.load(Ordering::Relaxed);
    report.requests = b.requests.load(Ordering::Relaxed);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Options of `pull`.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Revision (default: the worktree's pointers).
    pub rev: Option<String>,
    /// Datasets or paths inside them.
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
    /// Remote name.
    pub remote: Option<String>,
    /// Overwrite unsaved changes.
    pub force: bool,
}

/// Fetch, then checkout.
pub fn pull(
    ws: &Workspace,
    opts: &PullOptions,
    env: &AwsEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let targets = fetch_targets_for(ws, opts.rev.as_deref(), &opts.paths, &opts.cwd)?;
    let mut report = fetch_targets(ws, &targets, opts.remote.as_deref(), env, progress)?;
    let co = checkout(
        ws,
        &CheckoutOptions {
            rev: opts.rev.clone(),
            paths: opts.paths.clone(),
            cwd: opts.cwd.clone(),
            force: opts.force,
        },
        progress,
    )?;
    report.checkout = Some(co);
    Ok(report)
}

/// What the remote holds of one dataset version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteState {
    /// Every tree and chunk of the version is on the remote.
    Pushed,
    /// The version's root tree is not on the remote.
    NotPushed,
    /// The root tree is there but not everything below it (a pack lost or deleted, a push
    /// interrupted by hand-made damage). `dvx push` from a machine that has the data repairs it.
    Incomplete {
        /// Trees of the version missing on the remote.
        trees: u64,
        /// Chunks of the version missing on the remote (or in packs that are gone).
        chunks: u64,
    },
    /// The version is not in the local store and its trees on the remote cannot be read, so
    /// completeness cannot be told.
    Unknown(String),
}

impl RemoteState {
    /// True only when the whole version is on the remote.
    pub fn is_pushed(&self) -> bool {
        *self == RemoteState::Pushed
    }

    /// Short machine-readable name: `pushed`, `not-pushed`, `incomplete`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RemoteState::Pushed => "pushed",
            RemoteState::NotPushed => "not-pushed",
            RemoteState::Incomplete { .. } => "incomplete",
            RemoteState::Unknown(_) => "unknown",
        }
    }
}

impl std::fmt::Display for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteState::Pushed => write!(f, "pushed"),
            RemoteState::NotPushed => write!(f, "not pushed"),
            RemoteState::Incomplete { trees, chunks } => write!(
                f,
                "incomplete ({trees} tree(s) and {chunks} chunk(s) missing on the remote; \
                 `dvx push` from a machine that has the data repairs it)"
            ),
            RemoteState::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// For each version: is all of it on the remote? Checks every tree against the remote's
/// listing and every chunk against its index and the packs it really holds (trees are read
/// from the local store, or downloaded when the store lacks them).
pub fn remote_status(
    ws: &Workspace,
    remote: Option<&str>,
    env: &AwsEnv,
    ids: &[TreeId],
) -> Result<(String, Vec<RemoteState>)> {
    let r = open_remote(ws, remote, env)?;
    let label = format!("{} ({})", r.name, r.url);
    let rerr = |e| Error::Remote {
        remote: label.clone(),
        source: e,
    };
    let b = Counting::new(r.backend.as_ref());
    b.check_reachable().map_err(rerr)?;
    let store = ws.store()?;
    let remote_trees = list_remote_trees(&b).map_err(rerr)?;
    let mut rindex: Option<RemoteIndex> = None;
    let mut out = Vec::new();
    for id in ids {
        if !remote_trees.contains(id) {
            out.push(RemoteState::NotPushed);
            continue;
        }
        let ri = match &rindex {
            Some(ri) => ri,
            None => rindex.insert(RemoteIndex::load(ws, &b, &label, &r.url)?),
        };
        let mut trees = 0u64;
        let mut lost: HashSet<ChunkId> = HashSet::new();
        let mut seen = HashSet::new();
        let mut stack = vec![*id];
        let mut unknown = None;
        while let Some(t) = stack.pop() {
            if !seen.insert(t) {
                continue;
            }
            if !remote_trees.contains(&t) {
                trees += 1;
                // What is below cannot be told without the tree; a local copy still tells it.
                if !store.has_tree(&t) {
                    continue;
                }
            }
            let tree = if store.has_tree(&t) {
                read_tree(store, &t)?
            } else {
                let got = b
                    .get(&tree_key(&t), dvx_store::MAX_TREE_OBJECT_LEN)
                    .map_err(|e| e.to_string())
                    .and_then(|obj| {
                        dvx_store::decode_tree_object(&t, &obj).map_err(|e| e.to_string())
                    })
                    .and_then(|raw| Tree::decode(&raw).map_err(|e| e.to_string()));
                match got {
                    Ok(tree) => tree,
                    Err(e) => {
                        unknown = Some(format!(
                            "tree {t} on the remote cannot be read: {e}; run `dvx fsck --remote`"
                        ));
                        break;
                    }
                }
            };
            for e in tree.entries() {
                match &e.kind {
                    EntryKind::Dir { id, .. } => stack.push(*id),
                    EntryKind::File { chunks: cs, .. } => {
                        for c in cs {
                            if !lost.contains(&c.id) && ri.lookup(&c.id)?.is_none() {
                                lost.insert(c.id);
                            }
                        }
                    }
                    EntryKind::Symlink { .. } => {}
                }
            }
        }
        out.push(match unknown {
            Some(why) => RemoteState::Unknown(why),
            None if trees == 0 && lost.is_empty() => RemoteState::Pushed,
            None => RemoteState::Incomplete {
                trees,
                chunks: lost.len() as u64,
            },
        });
    }
    Ok((r.name, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{add, checkout, AddOptions, CheckoutOptions, NoProgress, WorkspaceOptions};
    use dvx_store::MemoryBackend;
    use rand::{RngCore, SeedableRng};

    fn git(dir: &Path, args: &[&str]) {
        let st = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            st.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }

    fn repo(dir: &Path) -> Workspace {
        std::fs::create_dir_all(dir).expect("mkdir");
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["config", "user.email", "t@example.com"]);
        git(dir, &["config", "user.name", "t"]);
        let ws = Workspace::open(&WorkspaceOptions {
            start: dir.to_path_buf(),
            ..WorkspaceOptions::default()
        })
        .expect("workspace");
        crate::init(&ws).expect("init");
        ws
    }

    fn write_data(dir: &Path, seed: u64, files: usize) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        std::fs::create_dir_all(dir.join("data/sub")).expect("mkdir");
        for i in 0..files {
            let mut b = vec![0u8; 1000 + (rng.next_u32() % 200_000) as usize];
            rng.fill_bytes(&mut b);
            std::fs::write(dir.join(format!("data/sub/f{i}.bin")), b).expect("write");
        }
        std::fs::write(
            dir.join("data/shared.txt"),
            b"the same in every repo\n".repeat(5000),
        )
        .expect("write");
    }

    fn add_data(ws: &Workspace) -> Pointer {
        add(
            ws,
            &AddOptions {
                paths: vec!["data".into()],
                cwd: ws.root().to_path_buf(),
                ..AddOptions::default()
            },
            &NoProgress,
        )
        .expect("add");
        ws.worktree_pointer("data").expect("read").expect("pointer")
    }

    /// A second worktree that has only the pointer (as after a clone).
    fn clone_pointer(from: &Workspace, dir: &Path) -> Workspace {
        let ws = repo(dir);
        std::fs::copy(from.root().join("data.dvx"), dir.join("data.dvx")).expect("copy pointer");
        ws
    }

    fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).expect("below").display().to_string();
                    out.insert(rel, std::fs::read(&p).expect("read"));
                }
            }
        }
        out
    }

    #[test]
    fn push_fetch_round_trip_is_incremental_and_verified() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = repo(&tmp.path().join("a"));
        write_data(a.root(), 1, 30);
        let p1 = add_data(&a);
        let remote = MemoryBackend::new();
        let r = push_to(
            &a,
            &remote,
            "mem",
            "mem://x",
            std::slice::from_ref(&p1),
            &NoProgress,
        )
        .expect("push");
        assert!(r.transferred > 0);
        let packs = remote.list("packs/").expect("list").len();
        assert!(
            (1..=2).contains(&packs),
            "30 files must not become 30 objects: {packs} packs"
        );
        // Nothing new: nothing sent.
        let again = push_to(
            &a,
            &remote,
            "mem",
            "mem://x",
            std::slice::from_ref(&p1),
            &NoProgress,
        )
        .expect("push");
        assert_eq!((again.transferred, again.objects), (0, 0));

        let b = clone_pointer(&a, &tmp.path().join("b"));
        fetch_from(
            &b,
            &remote,
            "mem",
            "mem://x",
            &[(p1.clone(), String::new())],
            &NoProgress,
        )
        .expect("fetch");
        checkout(
            &b,
            &CheckoutOptions {
                cwd: b.root().to_path_buf(),
                ..CheckoutOptions::default()
            },
            &NoProgress,
        )
        .expect("checkout");
        assert_eq!(
            read_all(&a.root().join("data")),
            read_all(&b.root().join("data"))
        );
    }

    #[test]
    fn corrupt_or_missing_remote_objects_are_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = repo(&tmp.path().join("a"));
        write_data(a.root(), 2, 10);
        let p = add_data(&a);
        let remote = MemoryBackend::new();
        push_to(
            &a,
            &remote,
            "mem",
            "mem://y",
            std::slice::from_ref(&p),
            &NoProgress,
        )
        .expect("push");
        // Flip a byte in the middle of every pack's data area.
        remote.with_objects(|o| {
            for (k, v) in o.iter_mut() {
                if k.starts_with("packs/") {
                    let i = v.len() / 3;
                    v[i] ^= 0x55;
                }
            }
        });
        let b = clone_pointer(&a, &tmp.path().join("b"));
        let err = fetch_from(
            &b,
            &remote,
            "mem",
            "mem://y",
            &[(p.clone(), String::new())],
            &NoProgress,
        )
        .expect_err("corruption detected");
        let msg = err.to_string();
        assert!(msg.contains("corrupt") && msg.contains("data/"), "{msg}");
        // A deleted tree is named too.
        remote.with_objects(|o| o.retain(|k, _| !k.starts_with("trees/")));
        let c = clone_pointer(&a, &tmp.path().join("c"));
        let err = fetch_from(
            &c,
            &remote,
            "mem",
            "mem://y",
            &[(p.clone(), String::new())],
            &NoProgress,
        )
        .expect_err("missing tree");
        assert!(err.to_string().contains(&p.id.to_hex()), "{err}");
    }

    #[test]
    fn concurrent_pushes_of_overlapping_data_need_no_lock() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = repo(&tmp.path().join("a"));
        let b = repo(&tmp.path().join("b"));
        write_data(a.root(), 3, 20);
        write_data(b.root(), 3, 25); // the first 20 files are identical
        let (pa, pb) = (add_data(&a), add_data(&b));
        let remote = MemoryBackend::new();
        std::thread::scope(|s| {
            let ra = s.spawn(|| {
                push_to(
                    &a,
                    &remote,
                    "mem",
                    "mem://z",
                    std::slice::from_ref(&pa),
                    &NoProgress,
                )
            });
            let rb = s.spawn(|| {
                push_to(
                    &b,
                    &remote,
                    "mem",
                    "mem://z",
                    std::slice::from_ref(&pb),
                    &NoProgress,
                )
            });
            ra.join().expect("thread").expect("push a");
            rb.join().expect("thread").expect("push b");
        });
        for (p, from) in [(&pa, &a), (&pb, &b)] {
            let dir = tmp.path().join(format!("fresh-{}", p.id.short()));
            let c = clone_pointer(from, &dir);
            fetch_from(
                &c,
                &remote,
                "mem",
                "mem://z",
                &[(p.clone(), String::new())],
                &NoProgress,
            )
            .expect("fetch");
            checkout(
                &c,
                &CheckoutOptions {
                    cwd: c.root().to_path_buf(),
                    ..CheckoutOptions::default()
                },
                &NoProgress,
            )
            .expect("checkout");
            assert_eq!(
                read_all(&from.root().join("data")),
                read_all(&c.root().join("data"))
            );
        }
    }
}
