//! The remote's layout: the names of the objects a remote holds and how they are read back
//! (docs/FORMAT.md), and the remote's chunk index built from them. Every object name dvx
//! uses on a remote is made here, so another layout replaces this module alone: an
//! encrypted remote (docs/FORMAT.md section 11) is the same layout with keyed names and
//! sealed contents, chosen by the session's keys.
//!
//! Names: `packs/<2hex>/<id>.pack`, `index/<blake3 of contents>.idx`, `trees/<2hex>/<id>`,
//! `gc/pending.toml` (the objects a remote gc found unreferenced), `catalogue.txt` (the
//! listing of the other objects, for remotes read through a web server, which cannot list),
//! and `audit/<YYYY>/<YYYYMMDDTHHMMSS.mmmZ>-<16 hex>.json` (the audit trail, one object per
//! operation: [`put_audit_record`], [`read_audit_record`]; sealed on an encrypted remote).
//! On an encrypted remote each id in a name is replaced by its keyed permutation.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use dvx_manifest::Tree;
use dvx_store::index::{self, IndexFile, Location};
use dvx_store::pack;
use dvx_store::{BackendError, ChunkId, PackId, TreeId};

use super::session::Session;
use crate::crypt::{hex, hex_decode, RemoteCrypt, SEAL_OVERHEAD};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::workspace::Workspace;

mod audit;
mod catalogue;
mod download;
mod packs;

pub(crate) use audit::{
    list_audit, parse_audit_key, put_audit_record, read_audit_record, AuditReadError,
};
pub(crate) use catalogue::refresh_catalogue;
use packs::read_sealed_trailer;
pub(crate) use packs::{open_chunk, put_pack, ReadyPack, UploadPack};

/// Where packs are.
pub(crate) const PACKS: &str = "packs/";
/// Where trees are.
pub(crate) const TREES: &str = "trees/";
/// Where index files are.
pub(crate) const INDEXES: &str = "index/";
/// The objects a remote gc found unreferenced, with when.
pub(crate) const GC_PENDING: &str = "gc/pending.toml";

/// Where the audit trail is.
pub(crate) const AUDIT: &str = "audit/";
/// Upper bound of one audit record (a push of every version of a long history lists them all,
/// about 200 bytes each).
pub(crate) const MAX_AUDIT_RECORD_LEN: u64 = 16 << 20;

/// Header bytes of a tree object file (FORMAT.md): nothing shorter is one.
const TREE_OBJECT_MIN_LEN: u64 = 24;
/// Encrypted trees are padded to a multiple of this, so sizes tell little of directories.
const TREE_PAD: u64 = 4096;
/// Upper bound of an encrypted index object.
const MAX_SEALED_INDEX_LEN: u64 = 4 << 30;

/// The hex of the id a name holds: the id itself, or its keyed permutation.
fn name_of(b: &Session<'_>, id: &[u8; 32]) -> String {
    match b.crypt() {
        Some(c) => hex(&c.hide(id)),
        None => hex(id),
    }
}

/// The id a name's 64 hex digits stand for.
fn id_of(b: &Session<'_>, name: &str) -> Option<[u8; 32]> {
    if name.len() != 64 {
        return None;
    }
    let bytes: [u8; 32] = hex_decode(name)?.try_into().ok()?;
    Some(match b.crypt() {
        Some(c) => c.reveal(&bytes),
        None => bytes,
    })
}

pub(crate) fn pack_key(b: &Session<'_>, id: &PackId) -> String {
    let h = name_of(b, &id.0);
    format!("{PACKS}{}/{h}.pack", &h[..2])
}

pub(crate) fn tree_key(b: &Session<'_>, id: &TreeId) -> String {
    let h = name_of(b, &id.0);
    format!("{TREES}{}/{h}", &h[..2])
}

/// The key of the index file whose checksum is `sum`.
fn index_key(b: &Session<'_>, sum: &[u8; 32]) -> String {
    format!("{INDEXES}{}.idx", name_of(b, sum))
}

pub(crate) fn parse_tree_key(b: &Session<'_>, key: &str) -> Option<TreeId> {
    id_of(b, key.rsplit('/').next()?).map(TreeId)
}

pub(crate) fn parse_pack_key(b: &Session<'_>, key: &str) -> Option<PackId> {
    id_of(b, key.rsplit('/').next()?.strip_suffix(".pack")?).map(PackId)
}

/// Where the index file of `key` is cached in `cache_dir`.
pub(crate) fn index_cache_path(cache_dir: &Path, key: &str) -> Option<PathBuf> {
    parse_index_key(key).map(|name| cache_dir.join(format!("{name}.idx")))
}

/// The checksum an index key names (64 hex digits), if it is one.
fn parse_index_key(key: &str) -> Option<&str> {
    let name = key.strip_prefix(INDEXES)?.strip_suffix(".idx")?;
    (name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit())).then_some(name)
}

/// The packs on the remote, with their sizes.
pub(crate) fn list_packs(b: &Session<'_>) -> Result<HashMap<PackId, u64>> {
    Ok(b.list(PACKS)
        .map_err(|e| b.error(e))?
        .into_iter()
        .filter_map(|o| parse_pack_key(b, &o.key).map(|id| (id, o.size)))
        .collect())
}

/// Every tree object on the remote, sound or not.
pub(crate) fn list_trees(b: &Session<'_>) -> Result<Vec<TreeId>> {
    Ok(b.list(TREES)
        .map_err(|e| b.error(e))?
        .iter()
        .filter_map(|o| parse_tree_key(b, &o.key))
        .collect())
}

/// The sizes a tree object can have on this remote.
fn tree_sizes(b: &Session<'_>) -> std::ops::RangeInclusive<u64> {
    match b.crypt() {
        None => TREE_OBJECT_MIN_LEN..=dvx_store::MAX_TREE_OBJECT_LEN,
        Some(_) => {
            TREE_PAD + SEAL_OVERHEAD as u64
                ..=padded(dvx_store::MAX_TREE_OBJECT_LEN) + SEAL_OVERHEAD as u64
        }
    }
}

/// The length a tree object of `len` bytes is padded to before sealing (with its length).
fn padded(len: u64) -> u64 {
    (len + 8).div_ceil(TREE_PAD) * TREE_PAD
}

/// The trees on the remote that can be whole. An object too small or too large to be a tree
/// object is not one (it is damaged): it counts as absent, so push uploads the tree again.
pub(crate) fn list_whole_trees(b: &Session<'_>) -> Result<HashSet<TreeId>> {
    let sizes = tree_sizes(b);
    Ok(b.list(TREES)
        .map_err(|e| b.error(e))?
        .iter()
        .filter(|o| sizes.contains(&o.size))
        .filter_map(|o| parse_tree_key(b, &o.key))
        .collect())
}

/// Uploads the tree object `obj` of `id` (sealed and padded on an encrypted remote).
pub(crate) fn put_tree(b: &Session<'_>, id: &TreeId, obj: Vec<u8>) -> Result<()> {
    let key = tree_key(b, id);
    let data = match b.crypt() {
        None => obj,
        Some(c) => {
            let mut plain = Vec::with_capacity(padded(obj.len() as u64) as usize);
            plain.extend_from_slice(&(obj.len() as u64).to_le_bytes());
            plain.extend_from_slice(&obj);
            plain.resize(padded(obj.len() as u64) as usize, 0);
            c.seal(key.as_bytes(), &plain)
                .map_err(|e| with_label(e, b))?
        }
    };
    b.put(&key, data).map_err(|e| b.error(e))
}

fn with_label(e: Error, b: &Session<'_>) -> Error {
    match e {
        Error::Encryption { message, .. } => Error::Encryption {
            remote: b.label().to_string(),
            message,
        },
        e => e,
    }
}

/// What a sealed object that fails to open is.
pub(crate) const NOT_AUTHENTIC: &str = "fails authentication: altered, moved or replayed \
    under another name, or not written with this remote's key";

/// Uploads an index file of `entries` (written in `scratch` first, an empty directory of
/// this machine); returns its key and its bytes.
pub(crate) fn put_index(
    b: &Session<'_>,
    scratch: &Path,
    entries: Vec<(ChunkId, Location)>,
) -> Result<(String, Vec<u8>)> {
    let idx = index::write_index(scratch, entries)?;
    let name = idx
        .file_name()
        .expect("index file has a name")
        .to_string_lossy()
        .into_owned();
    let data = crate::fsx::read(&idx)?;
    crate::fsx::remove_file(&idx)?;
    let sum: [u8; 32] = name
        .strip_suffix(".idx")
        .and_then(hex_decode)
        .and_then(|v| v.try_into().ok())
        .expect("an index file is named by its checksum");
    let key = index_key(b, &sum);
    let sent = match b.crypt() {
        None => data.clone(),
        Some(c) => c
            .seal(key.as_bytes(), &data)
            .map_err(|e| with_label(e, b))?,
    };
    b.put(&key, sent).map_err(|e| b.error(e))?;
    Ok((key, data))
}

/// Why a tree could not be read from the remote.
pub(crate) enum TreeReadError {
    /// The request failed (the tree may be absent: [`BackendError::NotFound`]).
    Get(BackendError),
    /// The object is not the tree it is named after.
    Corrupt(String),
}

impl std::fmt::Display for TreeReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeReadError::Get(e) => write!(f, "{e}"),
            TreeReadError::Corrupt(detail) => f.write_str(detail),
        }
    }
}

/// Downloads the tree `id`, verified against its id and decoded; with the object's bytes
/// (to be stored as they are).
pub(crate) fn get_tree(
    b: &Session<'_>,
    id: &TreeId,
) -> std::result::Result<(Tree, Vec<u8>), TreeReadError> {
    let key = tree_key(b, id);
    let obj = b
        .get(&key, *tree_sizes(b).end())
        .map_err(TreeReadError::Get)?;
    let obj = match b.crypt() {
        None => obj,
        Some(c) => open_tree(c, &key, &obj).map_err(|e| TreeReadError::Corrupt(e.into()))?,
    };
    let raw = dvx_store::decode_tree_object(id, &obj)
        .map_err(|e| TreeReadError::Corrupt(e.to_string()))?;
    let tree = Tree::decode(&raw).map_err(|e| TreeReadError::Corrupt(e.to_string()))?;
    Ok((tree, obj))
}

/// The tree object inside a sealed, padded one.
fn open_tree(
    c: &RemoteCrypt,
    key: &str,
    sealed: &[u8],
) -> std::result::Result<Vec<u8>, &'static str> {
    let plain = c.open(key.as_bytes(), sealed).ok_or(NOT_AUTHENTIC)?;
    let len = plain
        .get(..8)
        .map(|l| u64::from_le_bytes(l.try_into().expect("8 bytes")))
        .ok_or("is too short")?;
    if len > (plain.len() - 8) as u64 {
        return Err("declares more bytes than it holds");
    }
    Ok(plain[8..8 + len as usize].to_vec())
}

/// Entries per index object written when `gc --remote` rewrites the index (15 MB).
const REWRITE_PIECE: usize = if cfg!(test) { 4 } else { 1 << 18 };

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
    /// Where the index files are cached on this machine.
    pub(crate) cache_dir: PathBuf,
    /// Index files that could not be used (key, what is wrong): their packs are read through
    /// their trailers instead.
    pub(crate) damaged: Vec<(String, String)>,
}

impl RemoteIndex {
    pub(crate) fn load(ws: &Workspace, b: &Session<'_>) -> Result<RemoteIndex> {
        Self::load_in(&ws.state_dir(), b)
    }

    /// [`RemoteIndex::load`] with the index files cached under `state_dir` (a workspace's
    /// `.dvx/state`, or the user cache for `dvx get` outside any repository).
    pub(crate) fn load_in(state_dir: &std::path::Path, b: &Session<'_>) -> Result<RemoteIndex> {
        let rerr = |e| b.error(e);
        let cache_dir = state_dir
            .join("remote-cache")
            .join(&blake3::hash(b.url().as_bytes()).to_hex()[..16])
            .join("index");
        crate::fsx::create_dir_all(&cache_dir)?;
        // A dvx killed mid-download left its temporary file here.
        crate::scan::remove_stale_temps(&cache_dir);
        let mut files = Vec::new();
        let mut keys = Vec::new();
        let mut damaged = Vec::new();
        for obj in b.list(INDEXES).map_err(rerr)? {
            let Some(name) = parse_index_key(&obj.key) else {
                continue;
            };
            let local = index_cache_path(&cache_dir, &obj.key).expect("an index key");
            if let (false, Some(c)) = (local.is_file(), b.crypt()) {
                match Self::get_sealed(b, c, &obj.key, obj.size, name)? {
                    Ok(data) => crate::fsx::write_atomic(&local, &data)?,
                    Err(problem) => {
                        damaged.push((obj.key.clone(), problem));
                        continue;
                    }
                }
            }
            if !local.is_file() {
                if let Err(problem) = download::download_index(b, &obj.key, name, &local)? {
                    damaged.push((obj.key.clone(), problem));
                    continue;
                }
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
        dvx_store::index::bound_residency(&mut files);
        let indexed: HashSet<PackId> = files
            .iter()
            .flat_map(|f| f.packs().iter().copied())
            .collect();
        let mut extra = HashMap::new();
        let packs = list_packs(b)?;
        for (&id, &size) in &packs {
            if indexed.contains(&id) {
                continue;
            }
            let key = pack_key(b, &id);
            if let Some(c) = b.crypt() {
                // A damaged unindexed pack is simply not used; fsck reports it.
                if let Ok(entries) = read_sealed_trailer(b, c, &id, &key, size) {
                    for e in entries {
                        extra.entry(e.id).or_insert(Location::of(id, &e));
                    }
                }
                continue;
            }
            let entries = pack::read_trailer_with(Path::new(&key), size, |buf, off| {
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
                    extra.entry(e.id).or_insert(Location::of(id, &e));
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

    /// A sealed index object, opened and checked against its name: the index bytes, or what
    /// is wrong with it.
    fn get_sealed(
        b: &Session<'_>,
        c: &RemoteCrypt,
        key: &str,
        size: u64,
        name: &str,
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        let sealed = match b.get(key, size.min(MAX_SEALED_INDEX_LEN)) {
            Ok(d) => d,
            Err(e @ BackendError::Permanent { .. }) => {
                return Ok(Err(format!("cannot be used: {e}")))
            }
            Err(e) => return Err(b.error(e)),
        };
        let Some(data) = c.open(key.as_bytes(), &sealed) else {
            return Ok(Err(NOT_AUTHENTIC.to_string()));
        };
        let sum = id_of(b, name);
        let ok = data.len() >= 32
            && sum.is_some_and(|s| blake3::hash(&data[..data.len() - 32]).as_bytes() == &s);
        if !ok {
            return Ok(Err(
                "is corrupt (its checksum does not match its name)".to_string()
            ));
        }
        Ok(Ok(data))
    }

    /// Passes every known chunk location to `f`, one at a time: the unindexed packs' chunks,
    /// then each index file's entries in id order.
    pub(crate) fn for_each_entry(
        &self,
        mut f: impl FnMut(ChunkId, Location) -> Result<()>,
    ) -> Result<()> {
        for (c, l) in &self.extra {
            f(*c, *l)?;
        }
        for file in &self.files {
            for e in file.iter() {
                let (c, l) = e?;
                f(c, l)?;
            }
        }
        Ok(())
    }

    /// Every pack an index file or an unindexed pack's trailer names (repeats possible).
    pub(crate) fn named_packs(&self) -> impl Iterator<Item = PackId> + '_ {
        self.files
            .iter()
            .flat_map(|f| f.packs().iter().copied())
            .chain(self.extra.values().map(|l| l.pack))
    }

    /// Replaces each index object that names a pack of `doomed` by index objects of its other
    /// entries, and indexes the unindexed packs' chunks that stay; the replaced objects are
    /// deleted only once their replacements are uploaded. Index objects naming no doomed
    /// pack stay as they are, and memory holds one piece of [`REWRITE_PIECE`] entries.
    pub(crate) fn put_without(
        &self,
        b: &Session<'_>,
        scratch: &Path,
        doomed: &HashSet<PackId>,
    ) -> Result<()> {
        let keep = |l: &Location| !doomed.contains(&l.pack);
        let extra = self.extra.iter().map(|(c, l)| Ok((*c, *l)));
        let mut uploaded: HashSet<String> = self.put_pieces(b, scratch, extra, &keep)?;
        let mut replaced = Vec::new();
        for (file, key) in self.files.iter().zip(&self.keys) {
            if file.packs().iter().any(|p| doomed.contains(p)) {
                let entries = file.iter().map(|e| e.map_err(Error::from));
                uploaded.extend(self.put_pieces(b, scratch, entries, &keep)?);
                replaced.push(key);
            }
        }
        for key in replaced {
            if !uploaded.contains(key) {
                b.delete(key).map_err(|e| b.error(e))?;
            }
        }
        Ok(())
    }

    /// Uploads the `entries` that `keep` accepts as index objects of at most
    /// [`REWRITE_PIECE`] entries each (cached here too); their keys.
    fn put_pieces(
        &self,
        b: &Session<'_>,
        scratch: &Path,
        entries: impl Iterator<Item = Result<(ChunkId, Location)>>,
        keep: &dyn Fn(&Location) -> bool,
    ) -> Result<HashSet<String>> {
        let mut keys = HashSet::new();
        let mut piece = Vec::new();
        let mut entries = entries.peekable();
        while let Some(e) = entries.next() {
            let (c, l) = e?;
            if keep(&l) {
                piece.push((c, l));
            }
            if piece.len() == REWRITE_PIECE || (entries.peek().is_none() && !piece.is_empty()) {
                let (key, data) = put_index(b, scratch, std::mem::take(&mut piece))?;
                let cached = index_cache_path(&self.cache_dir, &key).expect("an index key");
                crate::fsx::write_atomic(&cached, &data)?;
                keys.insert(key);
            }
        }
        Ok(keys)
    }

    /// Tells the user about every index file that could not be used.
    pub(crate) fn warn_damaged(&self, b: &Session<'_>, progress: &dyn Progress) {
        let label = b.label();
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
        self.find(id, |l| self.holds(l))
    }

    /// Where an index file says the chunk is, whether or not that pack exists (for fsck).
    pub(crate) fn lookup_indexed(&self, id: &ChunkId) -> Result<Option<Location>> {
        self.find(id, |_| true)
    }

    /// Windows for [`RemoteIndex::lookup_ascending`], one per index file.
    pub(crate) fn windows(&self) -> Vec<index::Window> {
        self.files
            .iter()
            .map(|_| index::Window::default())
            .collect()
    }

    /// [`RemoteIndex::lookup`] for chunk ids asked in ascending order (fetch's sorted stream):
    /// each index file answers from the entries it read last when it can, so a remote of
    /// many index objects is not read once per chunk and object.
    pub(crate) fn lookup_ascending(
        &self,
        id: &ChunkId,
        windows: &mut [index::Window],
    ) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        for (f, w) in self.files.iter().zip(windows) {
            if let Some(l) = f.lookup_ascending(id, w)? {
                if self.holds(&l) {
                    return Ok(Some(l));
                }
            }
        }
        Ok(None)
    }

    /// [`RemoteIndex::lookup`] for a stream of ids in ascending order (repeats allowed) that
    /// asks about most of the remote's chunks (fsck): one merged pass over the index files,
    /// where a lookup each would read every file once per id.
    pub(crate) fn lookup_sorted(&self) -> impl FnMut(&ChunkId) -> Result<Option<Location>> + '_ {
        let mut merged = index::Merged::new(&self.files, |l: &Location| self.holds(l));
        let mut head: Option<(ChunkId, Location)> = None;
        let mut done = false;
        move |id| {
            if let Some(l) = self.extra.get(id) {
                return Ok(Some(*l));
            }
            loop {
                match head {
                    Some((h, l)) if h >= *id => return Ok((h == *id).then_some(l)),
                    _ if done => return Ok(None),
                    _ => {
                        head = merged.next()?;
                        done = head.is_none();
                    }
                }
            }
        }
    }

    /// The first location of the chunk that `usable` accepts (an unindexed pack's trailer
    /// always is: the pack was listed).
    fn find(&self, id: &ChunkId, usable: impl Fn(&Location) -> bool) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        for f in &self.files {
            if let Some(l) = f.lookup(id)? {
                if usable(&l) {
                    return Ok(Some(l));
                }
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
