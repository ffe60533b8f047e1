//! Reading versions without a checkout, for the Python module: `open`, `ls`, `get`, `id` and
//! lineage over a local repository, or over a source repository named by URL (through the
//! mirror of `dvx get`). What the local store lacks comes from the remote on demand: the trees
//! of a version as a whole (children written before parents, as `fetch` does), chunks a few
//! megabytes at a time as a file is read, kept in the store so a second read asks nothing.

mod file;
mod remote;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dvx_manifest::{DatasetKind, Pointer};
use dvx_store::{Store, StoreOptions, TreeId};

use crate::config::{CloudEnv, RepoConfig};
use crate::error::{Error, Result};
use crate::get::{part_of, Part};
use crate::inspect::LsEntry;
use crate::progress::Progress;
use crate::scan::{FlatEntry, Listing};
use crate::source::{locate, Located, SourceData, SourceOptions};
use crate::transfer::layout::RemoteIndex;
use crate::workspace::{Dataset, Workspace, WorkspaceOptions};

pub use file::FileReader;

/// A repository opened for reading (and, when local, for the operations of the command line).
/// Cheap to clone; safe to use from several threads at once.
#[derive(Clone)]
pub struct Access {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    env: CloudEnv,
    /// The remote to read from (None: the default remote).
    remote_name: Option<String>,
    /// Never contact a remote: data the store lacks is missing.
    offline: bool,
    /// The remote, opened on first need; reopened in a forked child (its connections and
    /// threads stay with the parent).
    remote: Mutex<Option<Arc<Connected>>>,
    /// Chunks whose bytes this process has read and verified (bounded): packs never change
    /// once written, so reading one again is not hashed again.
    verified: Mutex<std::collections::HashSet<dvx_store::ChunkId>>,
}

/// At most this many verified chunk ids are remembered (32 bytes each); then it starts over.
const MAX_VERIFIED: usize = 1 << 18;

enum Kind {
    /// A repository on this machine; relative paths are relative to `base`.
    Local { ws: Box<Workspace>, base: PathBuf },
    /// A source read by URL: its data is brought into a store under the user cache.
    Source {
        opts: SourceOptions,
        store: Box<Store>,
        state_dir: PathBuf,
        /// The last dataset found: where its data is read from (its committed remote).
        located: Mutex<Option<Box<Located>>>,
    },
}

/// What holds the data, opened, with the remote's chunk index once loaded.
pub(crate) struct Connected {
    pid: u32,
    data: SourceData,
    index: Mutex<Option<Arc<RemoteIndex>>>,
}

/// Where to find one path of one version.
struct Found {
    pointer: Pointer,
    /// The part below the dataset's base (`""`: all of it).
    below: String,
    /// The commit read (None: the worktree's pointer).
    commit: Option<String>,
}

/// How a version of a dataset came to be, for lineage records.
#[derive(Clone, Debug)]
pub struct DatasetInfo {
    /// The repository: its `origin` URL, else its path (or the source's URL).
    pub repo: String,
    /// The commit read (None: the worktree's pointer).
    pub commit: Option<String>,
    /// The dataset's path in the repository.
    pub path: String,
    /// The version id.
    pub id: TreeId,
    /// Files in the version.
    pub files: u64,
    /// Bytes in the version.
    pub bytes: u64,
    /// The URL of the remote that holds the data, if any.
    pub remote: Option<String>,
}

/// How to reach a source repository named by URL.
#[derive(Clone, Debug, Default)]
pub struct SourceSetup {
    /// The user cache directory (mirrors and the store of sources).
    pub cache_dir: PathBuf,
    /// Resolve revisions from the cache only.
    pub offline: bool,
    /// Read the data from this remote instead of the source's default remote.
    pub remote_url: Option<String>,
    /// Directory a relative source path is relative to.
    pub cwd: PathBuf,
}

impl Access {
    /// A local repository: the one holding `start`. Relative paths given later are relative
    /// to `base` (None: the worktree's root).
    pub fn local(
        start: &Path,
        base: Option<&Path>,
        store: Option<PathBuf>,
        remote: Option<String>,
        offline: bool,
        env: CloudEnv,
    ) -> Result<Access> {
        let ws = Workspace::open(&WorkspaceOptions {
            start: start.to_path_buf(),
            store,
            store_options: StoreOptions::default(),
        })?;
        ws.require_init()?;
        let base = base.unwrap_or(ws.root()).to_path_buf();
        let ws = Box::new(ws);
        Ok(Access::new(Kind::Local { ws, base }, remote, offline, env))
    }

    /// A source repository named by URL (or by a path outside any repository of this machine
    /// that should be read like one), read through the cache of `dvx get`.
    pub fn source(url: &str, setup: &SourceSetup, env: CloudEnv) -> Result<Access> {
        let store = Box::new(Store::open_or_create(
            &setup.cache_dir.join("store"),
            &StoreOptions::default(),
        )?);
        let opts = SourceOptions {
            url: url.to_string(),
            rev: None,
            offline: setup.offline,
            remote_url: setup.remote_url.clone(),
            cache_dir: setup.cache_dir.clone(),
            cwd: setup.cwd.clone(),
        };
        Ok(Access::new(
            Kind::Source {
                opts,
                store,
                state_dir: setup.cache_dir.join("state"),
                located: Mutex::new(None),
            },
            None,
            setup.offline,
            env,
        ))
    }

    fn new(kind: Kind, remote_name: Option<String>, offline: bool, env: CloudEnv) -> Access {
        Access {
            inner: Arc::new(Inner {
                kind,
                env,
                remote_name,
                offline,
                remote: Mutex::new(None),
                verified: Mutex::new(std::collections::HashSet::new()),
            }),
        }
    }

    /// The workspace of a local repository; the operations that change a repository need one.
    pub fn workspace(&self) -> Result<&Workspace> {
        match &self.inner.kind {
            Kind::Local { ws, .. } => Ok(ws),
            Kind::Source { opts, .. } => Err(Error::InvalidArgument {
                argument: "repo",
                message: format!(
                    "{} is read by URL: only reads work on it (clone it to add, check out, push or pull)",
                    opts.url
                ),
            }),
        }
    }

    /// The directory relative paths are relative to (None for a source).
    pub fn base(&self) -> Option<&Path> {
        match &self.inner.kind {
            Kind::Local { base, .. } => Some(base),
            Kind::Source { .. } => None,
        }
    }

    /// The worktree's root (None for a source).
    pub fn root(&self) -> Option<&Path> {
        match &self.inner.kind {
            Kind::Local { ws, .. } => Some(ws.root()),
            Kind::Source { .. } => None,
        }
    }

    /// Where the repository is, as lineage records it: the `origin` URL of a local
    /// repository (credentials masked), else its path; a source's URL.
    pub fn url(&self) -> String {
        match &self.inner.kind {
            Kind::Local { ws, .. } => match ws.repo.remote_url("origin") {
                Some(u) => dvx_remote::redact_userinfo(&u),
                None => ws.root().display().to_string(),
            },
            Kind::Source { opts, .. } => dvx_remote::redact_userinfo(&opts.url),
        }
    }

    /// The full commit id `rev` names now.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        match &self.inner.kind {
            Kind::Local { ws, .. } => Ok(ws.resolve(rev)?.id),
            Kind::Source { opts, .. } => {
                let mut o = opts.clone();
                o.rev = Some(rev.to_string());
                crate::source::resolve(&o)
            }
        }
    }

    /// Whether this process verified `id`'s bytes before.
    pub(crate) fn was_verified(&self, id: &dvx_store::ChunkId) -> bool {
        self.inner
            .verified
            .lock()
            .expect("verified lock poisoned")
            .contains(id)
    }

    /// Notes that this process verified `id`'s bytes.
    pub(crate) fn mark_verified(&self, id: dvx_store::ChunkId) {
        let mut set = self.inner.verified.lock().expect("verified lock poisoned");
        if set.len() >= MAX_VERIFIED {
            set.clear();
        }
        set.insert(id);
    }

    pub(crate) fn store(&self) -> Result<&Store> {
        match &self.inner.kind {
            Kind::Local { ws, .. } => ws.store(),
            Kind::Source { store, .. } => Ok(store),
        }
    }

    fn state_dir(&self) -> PathBuf {
        match &self.inner.kind {
            Kind::Local { ws, .. } => ws.state_dir(),
            Kind::Source { state_dir, .. } => state_dir.clone(),
        }
    }

    /// The pointer holding `path` at `rev` (None: the worktree's), and the part asked for.
    fn find(&self, path: &str, rev: Option<&str>) -> Result<Found> {
        match &self.inner.kind {
            Kind::Local { ws, base } => {
                let commit = rev.map(|r| ws.resolve(r)).transpose()?.map(|c| c.id);
                // The commit just resolved, so that what is read is what was named.
                let pinned = commit.as_deref().or(rev);
                let mut targets = crate::targets::select(ws, pinned, &[PathBuf::from(path)], base)?;
                if targets.len() != 1 {
                    return Err(Error::InvalidArgument {
                        argument: "path",
                        message: format!(
                            "`{path}` names {} datasets: name one dataset, or a folder or file inside one",
                            targets.len()
                        ),
                    });
                }
                let t = targets.remove(0);
                Ok(Found {
                    pointer: t.pointer,
                    below: t.below,
                    commit,
                })
            }
            Kind::Source { opts, located, .. } => {
                let mut o = opts.clone();
                o.rev = rev.map(str::to_string);
                // Only the pointer: trees and chunks come when a read needs them.
                let loc = locate(&o, path)?;
                let found = Found {
                    pointer: loc.pointer.clone(),
                    below: loc.below.clone(),
                    commit: Some(loc.commit.clone()),
                };
                *located.lock().expect("located lock poisoned") = Some(Box::new(loc));
                Ok(found)
            }
        }
    }

    /// The entries of `path` (default: every dataset) at `rev`, as `dvx ls --json` lists
    /// them; only the first level below `path` unless `recursive`.
    pub fn ls(
        &self,
        path: Option<&str>,
        rev: Option<&str>,
        recursive: bool,
    ) -> Result<Vec<LsEntry>> {
        let founds = match path {
            Some(p) => vec![self.find(p, rev)?],
            None => self.all(rev)?,
        };
        let mut out = Vec::new();
        for f in founds {
            let before = out.len();
            let below = match f.pointer.kind {
                // A single file's dataset is its one entry: the shape check of the full load
                // is worth its (tiny) cost.
                DatasetKind::File => {
                    let (listing, dirs) = self.listing_and_dirs(&f.pointer)?;
                    let ds = Dataset::of(&f.pointer);
                    for (rel, e) in &listing {
                        out.push(entry(&ds, rel, e, dirs.get(rel)));
                    }
                    continue;
                }
                DatasetKind::Dir => crate::names::rel_bytes(&f.below),
            };
            self.ensure_trees(&f.pointer)?;
            let store = self.store()?;
            let ds = Dataset::of(&f.pointer);
            let depth = |r: &[u8]| r.iter().filter(|&&c| c == b'/').count();
            let base_depth = if below.is_empty() {
                0
            } else {
                depth(&below) + 1
            };
            let wanted = |rel: &[u8]| {
                let inside = below.is_empty()
                    || rel == below.as_slice()
                    || (rel.starts_with(&below) && rel.get(below.len()) == Some(&b'/'));
                inside && (recursive || rel == below.as_slice() || depth(rel) <= base_depth)
            };
            // The walk yields byte order except where a directory's name is a prefix of a
            // sibling's followed by a byte below `/`; then the listing is sorted by path.
            let mut last: Vec<u8> = Vec::new();
            let mut sorted = true;
            crate::treeio::walk_version(store, &f.pointer.id, &mut |rel, e| {
                if wanted(rel) {
                    sorted &= last.as_slice() < rel;
                    last.clear();
                    last.extend_from_slice(rel);
                    out.push(ls_entry(&ds, rel, e));
                }
            })?;
            if !sorted {
                let mut keyed = Vec::with_capacity(out.len() - before);
                crate::treeio::walk_version(store, &f.pointer.id, &mut |rel, _| {
                    if wanted(rel) {
                        keyed.push(rel.to_vec());
                    }
                })?;
                let mut part: Vec<(Vec<u8>, LsEntry)> =
                    keyed.into_iter().zip(out.drain(before..)).collect();
                part.sort_by(|a, b| a.0.cmp(&b.0));
                out.extend(part.into_iter().map(|(_, e)| e));
            }
            if !below.is_empty() && out.len() == before {
                return Err(no_such_path(&ds.display(&f.below), rev));
            }
        }
        Ok(out)
    }

    /// The pointers of every dataset at `rev` (or in the worktree).
    fn all(&self, rev: Option<&str>) -> Result<Vec<Found>> {
        let Kind::Local { ws, base } = &self.inner.kind else {
            return Err(Error::InvalidArgument {
                argument: "path",
                message: "name a dataset of the source: listing all of them needs a clone".into(),
            });
        };
        let commit = rev.map(|r| ws.resolve(r)).transpose()?.map(|c| c.id);
        let pinned = commit.as_deref().or(rev);
        Ok(crate::targets::select(ws, pinned, &[], base)?
            .into_iter()
            .map(|t| Found {
                pointer: t.pointer,
                below: t.below,
                commit: commit.clone(),
            })
            .collect())
    }

    /// The entry of one path at `rev`: a file, link, folder, or a whole dataset.
    pub fn info(&self, path: &str, rev: Option<&str>) -> Result<LsEntry> {
        let f = self.find(path, rev)?;
        let (listing, dirs) = self.listing_and_dirs(&f.pointer)?;
        let ds = Dataset::of(&f.pointer);
        if f.pointer.kind == DatasetKind::Dir && f.below.is_empty() {
            let (_, bytes) = totals(&listing);
            return Ok(LsEntry {
                path: ds.path.clone(),
                kind: "dir",
                size: bytes,
                digest: Some(f.pointer.id.to_hex()),
                executable: false,
                target: None,
                source: f.pointer.source.clone(),
            });
        }
        let key = match f.pointer.kind {
            DatasetKind::File => listing.keys().next().cloned().unwrap_or_default(),
            DatasetKind::Dir => crate::names::rel_bytes(&f.below),
        };
        let e = listing
            .get(&key)
            .ok_or_else(|| no_such_path(&ds.display(&f.below), rev))?;
        Ok(entry(&ds, &key, e, dirs.get(&key)))
    }

    /// A reader of the file `path` at `rev`.
    pub fn file(&self, path: &str, rev: Option<&str>) -> Result<FileReader> {
        let f = self.find(path, rev)?;
        let listing = self.listing(&f.pointer)?;
        let ds = Dataset::of(&f.pointer);
        let shown = match f.pointer.kind {
            DatasetKind::File => ds.path.clone(),
            DatasetKind::Dir => ds.display(&f.below),
        };
        let part = part_of(&listing, f.pointer.kind, &f.below, || {
            no_such_path(&shown, rev)
        })?;
        match part {
            Part::One(FlatEntry::File {
                size,
                digest,
                chunks,
                ..
            }) => Ok(FileReader::new(self.clone(), shown, size, digest, chunks)),
            _ => Err(Error::NotARegularFile {
                path: shown,
                place: rev.map(|r| format!(" at revision {r}")).unwrap_or_default(),
                detail: "a folder or a symlink; only files can be opened".into(),
            }),
        }
    }

    /// Writes `path` at `rev` to `out` (which must not exist), or, without `out`, to a copy
    /// under `cache_dir` named by the version, reused by later calls. Returns where it is.
    pub fn get(
        &self,
        path: &str,
        rev: Option<&str>,
        out: Option<&Path>,
        cache_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<PathBuf> {
        let f = self.find(path, rev)?;
        let listing = self.listing(&f.pointer)?;
        let ds = Dataset::of(&f.pointer);
        let shown = ds.display(&f.below);
        let part = part_of(&listing, f.pointer.kind, &f.below, || {
            no_such_path(&shown, rev)
        })?;
        let name = shown.rsplit('/').next().unwrap_or(&shown).to_string();
        let cached = out.is_none();
        let out = match out {
            Some(o) => o.to_path_buf(),
            None => {
                // One copy per version and part: the same call later finds it.
                let part_key = blake3::hash(f.below.as_bytes()).to_hex();
                let dir = cache_dir
                    .join("snapshots")
                    .join(f.pointer.id.to_hex().as_str())
                    .join(&part_key.as_str()[..16]);
                let path = dir.join(&name);
                if crate::fsx::lstat(&path)?.is_some() {
                    return Ok(path);
                }
                path
            }
        };
        crate::get::refuse_existing(&out, "dvx.get")?;
        let mut needed = std::collections::BTreeMap::new();
        let store = self.store()?;
        let entries: Vec<&FlatEntry> = match &part {
            Part::One(e) => vec![e],
            Part::Folder(v) => v.iter().map(|(_, e)| e).collect(),
        };
        for e in entries {
            if let FlatEntry::File { chunks, .. } = e {
                for c in chunks {
                    if !store.readable(&c.id)? {
                        needed.entry(c.id).or_insert_with(|| vec![shown.clone()]);
                    }
                }
            }
        }
        self.fetch_chunks(&needed)?;
        crate::get::write_copy(store, &part, &out, progress)?;
        if cached {
            // Shared by every later call for this version: not to be edited in place.
            make_read_only(&out)?;
        }
        Ok(out)
    }

    /// The version id of the dataset holding `path` at `rev` (the one its pointer records).
    pub fn id(&self, path: &str, rev: Option<&str>) -> Result<TreeId> {
        Ok(self.find(path, rev)?.pointer.id)
    }

    /// Where the version of the dataset holding `path` at `rev` comes from.
    pub fn dataset(&self, path: &str, rev: Option<&str>) -> Result<DatasetInfo> {
        let f = self.find(path, rev)?;
        let listing = self.listing(&f.pointer)?;
        let (files, bytes) = totals(&listing);
        let remote = match &self.inner.kind {
            Kind::Local { ws, .. } => {
                let cfg = RepoConfig::load(&ws.dvx_dir())?;
                let name = self
                    .inner
                    .remote_name
                    .clone()
                    .or(cfg.core.default_remote.clone());
                name.and_then(|n| cfg.remotes.get(&n).map(|r| r.url.clone()))
            }
            Kind::Source { opts, .. } => opts.remote_url.clone(),
        };
        Ok(DatasetInfo {
            repo: self.url(),
            commit: f.commit,
            path: f.pointer.path.clone(),
            id: f.pointer.id,
            files,
            bytes,
            remote: remote.map(|r| dvx_remote::redact_userinfo(&r)),
        })
    }
}

/// Makes the files at and below `path` read-only (links are left alone).
fn make_read_only(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io("read directory", path, e))?;
        for e in entries {
            let e = e.map_err(|err| Error::io("read directory", path, err))?;
            make_read_only(&e.path())?;
        }
    } else if meta.is_file() {
        let mut perms = meta.permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(path, perms).map_err(|e| Error::io("chmod", path, e))?;
    }
    Ok(())
}

/// Files (and links) and bytes of a listing.
fn totals(listing: &Listing) -> (u64, u64) {
    listing.values().fold((0, 0), |(f, b), e| match e {
        FlatEntry::Dir => (f, b),
        e => (f + 1, b + e.size()),
    })
}

fn no_such_path(path: &str, rev: Option<&str>) -> Error {
    Error::NoSuchPath {
        path: path.to_string(),
        place: crate::targets::place(rev),
        hint: String::new(),
    }
}

/// The listing entry of one tree entry at `rel` (raw path bytes below the dataset).
fn ls_entry(ds: &Dataset, rel: &[u8], e: &dvx_manifest::Entry) -> LsEntry {
    use dvx_manifest::EntryKind;
    let (kind, size, digest, executable, target) = match &e.kind {
        EntryKind::File {
            size,
            digest,
            executable,
            ..
        } => ("file", *size, Some(digest.to_hex()), *executable, None),
        EntryKind::Symlink { target } => (
            "symlink",
            0,
            None,
            false,
            Some(crate::names::rel_string(target)),
        ),
        EntryKind::Dir { id, size, .. } => ("dir", *size, Some(id.to_hex()), false, None),
    };
    LsEntry {
        path: ds.display(&crate::names::rel_string(rel)),
        kind,
        size,
        digest,
        executable,
        target,
        source: None,
    }
}

/// The listing entry of one entry of a flat listing (`dir`: a directory's tree id and totals).
fn entry(ds: &Dataset, rel: &[u8], e: &FlatEntry, dir: Option<&(TreeId, u64, u64)>) -> LsEntry {
    use dvx_manifest::EntryKind;
    let kind = match e {
        FlatEntry::File {
            size,
            digest,
            executable,
            ..
        } => EntryKind::File {
            size: *size,
            digest: *digest,
            executable: *executable,
            chunks: Vec::new(),
        },
        FlatEntry::Symlink { target } => EntryKind::Symlink {
            target: target.clone(),
        },
        FlatEntry::Dir => {
            // The walk that made the listing recorded every directory it put in it.
            let (id, size, files) = *dir.expect("every listed directory has its DirInfo");
            EntryKind::Dir { id, size, files }
        }
    };
    let name = Vec::new();
    ls_entry(ds, rel, &dvx_manifest::Entry { name, kind })
}
