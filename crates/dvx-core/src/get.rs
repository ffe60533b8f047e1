//! `dvx get`: a plain copy of a dataset, or a folder or file inside one, of another repository
//! at a revision. Nothing is tracked or staged; the chunks go to this repository's store (or,
//! outside any dvx repository, a store under the user cache) so a second get reuses them.

use std::io::Write;
use std::path::{Path, PathBuf};

use dvx_store::{Digest, Store, StoreOptions};

use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::scan::{FlatEntry, Listing};
use crate::source::{fetch_located, locate, Located, SourceOptions};
use crate::transfer::TransferReport;
use crate::workspace::Workspace;

/// Options of `get`.
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    /// The source and how to reach it.
    pub source: SourceOptions,
    /// The path in the source: a dataset, or a folder or file inside one.
    pub path: String,
    /// Where to write the copy (default: the path's last component in `source.cwd`).
    pub out: Option<PathBuf>,
}

/// What `get` (and `import`, `update`) read from a source.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// The source as given.
    pub url: String,
    /// The revision as given.
    pub rev: Option<String>,
    /// The commit it resolved to.
    pub commit: String,
    /// The path in the source.
    pub path: String,
    /// The version id of the source's dataset holding the path.
    pub id: dvx_store::TreeId,
    /// True when the source repository was contacted (a git fetch ran).
    pub contacted: bool,
}

impl SourceReport {
    pub(crate) fn of(loc: &Located, rev: Option<&str>) -> SourceReport {
        SourceReport {
            url: loc.url.clone(),
            rev: rev.map(str::to_string),
            commit: loc.commit.clone(),
            path: loc.path.clone(),
            id: loc.pointer.id,
            contacted: loc.contacted,
        }
    }
}

/// What `get` did.
#[derive(Clone, Debug)]
pub struct GetReport {
    /// The source read.
    pub source: SourceReport,
    /// The copy written.
    pub out: PathBuf,
    /// Files (and links) written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// What was transferred (chunks and bytes received).
    pub transfer: TransferReport,
}

/// Writes a plain copy of `opts.path` of the source at `opts.source.rev`.
pub fn get(
    ws: Option<&Workspace>,
    opts: &GetOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<GetReport> {
    let ws = ws.filter(|w| w.is_initialized());
    let src = &opts.source;
    let name = opts
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let out = match &opts.out {
        Some(o) => src.cwd.join(o),
        None => src.cwd.join(name),
    };
    refuse_existing(&out, "dvx get")?;
    let loc = locate(src, &opts.path)?;
    let own;
    let (store, state_dir) = match ws {
        Some(ws) => (ws.store()?, ws.state_dir()),
        None => {
            own = Store::open_or_create(&src.cache_dir.join("store"), &StoreOptions::default())?;
            (&own, src.cache_dir.join("state"))
        }
    };
    let transfer = fetch_located(
        &loc,
        src,
        crate::audit::AuditOperation::Get,
        ws,
        store,
        &state_dir,
        env,
        progress,
    )?;
    let listing = crate::treeio::load_listing(store, &loc.pointer.id)?;
    let part = select_part(&listing, &loc)?;
    let (files, bytes) = write_copy(store, &part, &out, progress)?;
    Ok(GetReport {
        source: SourceReport::of(&loc, src.rev.as_deref()),
        out,
        files,
        bytes,
        transfer,
    })
}

/// Refuses to create `path` when something is there already.
pub(crate) fn refuse_existing(path: &Path, what: &'static str) -> Result<()> {
    match crate::fsx::lstat(path)? {
        Some(_) => Err(Error::TargetExists {
            path: path.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

/// The part of a dataset asked for.
pub(crate) enum Part {
    /// One file or link.
    One(FlatEntry),
    /// A folder: its entries, paths relative to it.
    Folder(Vec<(Vec<u8>, FlatEntry)>),
}

/// The entries of `listing` (the source dataset) that `loc` asks for.
pub(crate) fn select_part(listing: &Listing, loc: &Located) -> Result<Part> {
    part_of(listing, loc.pointer.kind, &loc.below, || {
        Error::NoSuchPath {
            path: loc.path.clone(),
            place: format!("in source {} at commit {}", loc.url, &loc.commit[..12]),
            hint: format!(": the dataset {} holds no such entry", loc.pointer.path),
        }
    })
}

/// The entries of `listing` (a dataset of `kind`) below `below` (`""`: all of it).
pub(crate) fn part_of(
    listing: &Listing,
    kind: dvx_manifest::DatasetKind,
    below: &str,
    missing: impl Fn() -> Error,
) -> Result<Part> {
    if kind == dvx_manifest::DatasetKind::File {
        let (_, e) = listing.iter().next().ok_or_else(&missing)?;
        return Ok(Part::One(e.clone()));
    }
    if below.is_empty() {
        return Ok(Part::Folder(
            listing
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
        ));
    }
    let below = crate::names::rel_bytes(below);
    match listing.get(&below) {
        None => Err(missing()),
        Some(FlatEntry::Dir) => {
            let mut prefix = below.clone();
            prefix.push(b'/');
            Ok(Part::Folder(
                listing
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, e)| (k[prefix.len()..].to_vec(), e.clone()))
                    .collect(),
            ))
        }
        Some(e) => Ok(Part::One(e.clone())),
    }
}

/// Writes `part` at `out` (which must not exist): into a temporary name beside it, renamed
/// into place when complete, so `out` is the whole copy or nothing. Returns (files, bytes).
pub(crate) fn write_copy(
    store: &Store,
    part: &Part,
    out: &Path,
    progress: &dyn Progress,
) -> Result<(u64, u64)> {
    let parent = out.parent().unwrap_or(Path::new("."));
    crate::fsx::create_dir_all(parent)?;
    remove_stale_copies(parent);
    let tmp = dvx_store::fs::temp_path(parent);
    let total: u64 = match part {
        Part::One(e) => e.size(),
        Part::Folder(entries) => entries.iter().map(|(_, e)| e.size()).sum(),
    };
    progress.begin("writing", Some(total), Unit::Bytes);
    let written = (|| -> Result<(u64, u64)> {
        match part {
            Part::One(e) => {
                write_entry(store, e, &tmp, progress)?;
                Ok((1, e.size()))
            }
            Part::Folder(entries) => {
                crate::checkout::write_new_tree(store, &tmp, entries, progress)
            }
        }
    })();
    progress.end();
    let done = written.and_then(|r| {
        rename_new(&tmp, out)?;
        Ok(r)
    });
    if done.is_err() {
        let _ = std::fs::remove_dir_all(&tmp).or_else(|_| std::fs::remove_file(&tmp));
    }
    done
}

/// Removes what a killed `dvx get` left in `dir`: its temporary copies (`.dvx-tmp-<pid>-...`
/// of a process that is gone). Best effort: a leftover that cannot be removed only costs space.
fn remove_stale_copies(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if crate::scan::is_stale_temp(&path) {
            let removed = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            drop(removed);
        }
    }
}

/// Writes one entry: a file from its chunks (each verified on read, the whole checked against
/// its digest), a link, or a folder.
fn write_entry(store: &Store, e: &FlatEntry, path: &Path, progress: &dyn Progress) -> Result<()> {
    match e {
        FlatEntry::Dir => {
            std::fs::create_dir(path).map_err(|err| Error::io("create directory", path, err))
        }
        FlatEntry::Symlink { target } => crate::fsx::symlink(target, path),
        FlatEntry::File {
            digest,
            executable,
            chunks,
            ..
        } => {
            let shown = path.display().to_string();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|err| Error::io("create", path, err))?;
            let mut hasher = blake3::Hasher::new();
            for c in chunks {
                let data = store
                    .read_chunk(&c.id)
                    .map_err(|source| Error::DamagedFile {
                        file: shown.clone(),
                        source,
                    })?;
                hasher.update(&data);
                f.write_all(&data)
                    .map_err(|err| Error::io("write", path, err))?;
                progress.advance(data.len() as u64);
            }
            if Digest::from(hasher.finalize()) != *digest {
                return Err(Error::DigestMismatch {
                    file: shown,
                    expected: *digest,
                });
            }
            if *executable {
                crate::fsx::set_mode(&f, 0o755)
                    .map_err(|err| Error::io("set the mode of", path, err))?;
            }
            Ok(())
        }
    }
}

/// Renames `from` to `to`, failing if `to` appeared meanwhile (never replaces it).
fn rename_new(from: &Path, to: &Path) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        use rustix::fs as rfs;
        match rfs::renameat_with(rfs::CWD, from, rfs::CWD, to, rfs::RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                return Err(Error::TargetExists {
                    path: to.to_path_buf(),
                    what: "dvx get",
                })
            }
            // A file system without the flag: check, then rename.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
            Err(e) => return Err(Error::io("rename into place", to, e.into())),
        }
    }
    refuse_existing(to, "dvx get")?;
    std::fs::rename(from, to).map_err(|e| Error::io("rename into place", to, e))
}
