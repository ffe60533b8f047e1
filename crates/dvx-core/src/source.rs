//! Sources of `dvx get`, `import` and `update`: a dataset (or a part of one) of another
//! repository at a revision. The git side (resolving the revision, reading the pointer and the
//! source's config) goes through a cached mirror of the source ([`dvx_git::Mirror`], one per
//! source under the user cache, locked against other dvx processes); the data comes from the
//! source's default remote through the transfer code, or from a local source's own store.

use std::path::{Path, PathBuf};

use dvx_manifest::{DatasetKind, Pointer, POINTER_SUFFIX};
use dvx_store::Store;

use crate::config::{CloudEnv, LocalConfig, LocalRemote, RemoteConfig, RepoConfig};
use crate::error::{Error, Result};
use crate::lock::LockFile;
use crate::progress::Progress;
use crate::remote::OpenRemote;
use crate::targets::Target;
use crate::transfer::TransferReport;
use crate::workspace::Workspace;

/// How long a command waits for another dvx using the same source mirror.
const MIRROR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// What names a source and how to reach its data (shared by get, import and update).
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// The source repository: a path, `file://`, `https://`, `ssh://` or scp-style URL.
    pub url: String,
    /// Branch, tag or commit (None: the source's HEAD).
    pub rev: Option<String>,
    /// Use only the cached mirror: fail rather than contact the source.
    pub offline: bool,
    /// Read the data from this remote instead of the source's default remote.
    pub remote_url: Option<String>,
    /// The user cache (`$DVX_CACHE_DIR`, `$XDG_CACHE_HOME/dvx`, `~/.cache/dvx`), resolved by
    /// the binary: source mirrors live in `sources/`.
    pub cache_dir: PathBuf,
    /// The directory relative paths are taken from.
    pub cwd: PathBuf,
}

/// A source's dataset found at a commit.
#[derive(Clone)]
pub(crate) struct Located {
    /// The source as given.
    pub url: String,
    /// The source's worktree, when it is a local repository.
    pub local_root: Option<PathBuf>,
    /// The commit the revision resolved to.
    pub commit: String,
    /// True when the source was contacted.
    pub contacted: bool,
    /// The source's pointer of the dataset holding the path.
    pub pointer: Pointer,
    /// The path below the dataset's base ("" = the whole dataset).
    pub below: String,
    /// The path asked for, normalised.
    pub path: String,
    /// The source's committed config at that commit.
    pub config: RepoConfig,
}

impl Located {
    /// The fetch target: the source's dataset, narrowed to the part asked for.
    pub(crate) fn target(&self) -> Target {
        Target {
            pointer: self.pointer.clone(),
            raw: None,
            below: self.below.clone(),
        }
    }
}

/// What git is given for a source, and the source's worktree when it is a local path.
fn git_url(url: &str, cwd: &Path) -> Result<(String, Option<PathBuf>)> {
    let unknown = |detail: String| {
        Error::Git(dvx_git::Error::UnknownSource {
            url: url.to_string(),
            detail,
        })
    };
    if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
        return Err(unknown("not a repository URL or path".into()));
    }
    let local = if let Some(rest) = url.strip_prefix("file://") {
        PathBuf::from(rest)
    } else if url.contains("://") || is_scp_like(url) {
        return Ok((url.trim_end_matches('/').to_string(), None));
    } else {
        cwd.join(url)
    };
    match local.canonicalize() {
        Ok(root) => Ok((root.to_string_lossy().into_owned(), Some(root))),
        // Gone (moved, unmounted): its mirror may still serve `--offline`; without the cache,
        // git says the source cannot be reached.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut norm = PathBuf::new();
            for c in local.components() {
                match c {
                    std::path::Component::ParentDir => {
                        norm.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => norm.push(c),
                }
            }
            Ok((norm.to_string_lossy().into_owned(), None))
        }
        Err(e) => Err(unknown(format!("{}: {e}", local.display()))),
    }
}

/// `user@host:path` or `host:path`, as git reads it: a colon before any slash.
fn is_scp_like(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(c), Some(s)) => c < s && c > 1,
        (Some(c), None) => c > 1,
        _ => false,
    }
}

/// A dataset path as given (`./data/x/`, `data/x.dvx`) in the `/`-separated form pointers use.
fn normalise_path(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidArgument {
                    argument: "path",
                    message: format!(
                        "{path}: a path in the source cannot contain `..`; give it from the source's root"
                    ),
                })
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    let joined = joined
        .strip_suffix(POINTER_SUFFIX)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or(joined);
    if joined.is_empty() {
        return Err(Error::InvalidArgument {
            argument: "path",
            message: "name a dataset of the source, or a folder or file inside one".into(),
        });
    }
    Ok(joined)
}

/// The commit `opts.rev` names in the source now (fetched into its mirror unless offline).
pub(crate) fn resolve(opts: &SourceOptions) -> Result<String> {
    let (git, _) = git_url(&opts.url, &opts.cwd)?;
    let (_lock, mirror) = open_mirror(opts, &git)?;
    Ok(mirror.resolve(opts.rev.as_deref(), opts.offline)?.commit)
}

/// The source's mirror, locked while the lock lives.
fn open_mirror(opts: &SourceOptions, git: &str) -> Result<(LockFile, dvx_git::Mirror)> {
    let key = &blake3::hash(git.as_bytes()).to_hex()[..16];
    let sources = opts.cache_dir.join("sources");
    crate::fsx::create_dir_all(&sources)?;
    let lock = LockFile::acquire(&sources.join(format!("{key}.lock")), MIRROR_LOCK_WAIT)?;
    let mirror = dvx_git::Mirror::open(&sources.join(key), git, &opts.url)?;
    Ok((lock, mirror))
}

/// Resolves the revision in the source's mirror (fetching only what is new, unless offline),
/// and reads the pointer holding `path` and the source's config at that commit.
pub(crate) fn locate(opts: &SourceOptions, path: &str) -> Result<Located> {
    let path = normalise_path(path)?;
    let (git, local_root) = git_url(&opts.url, &opts.cwd)?;
    let (_lock, mirror) = open_mirror(opts, &git)?;
    let resolved = mirror.resolve(opts.rev.as_deref(), opts.offline)?;
    let commit = resolved.commit;
    let place = || {
        format!(
            "in source {} at {} (commit {})",
            opts.url,
            opts.rev.as_deref().unwrap_or("HEAD"),
            &commit[..12]
        )
    };
    let pointers = mirror.files_with_suffix(&commit, POINTER_SUFFIX)?;
    let holder = pointers.iter().find(|f| {
        let d = f.path.strip_suffix(POINTER_SUFFIX).unwrap_or(&f.path);
        path == d || path.starts_with(&format!("{d}/"))
    });
    let Some(holder) = holder else {
        let names: Vec<&str> = pointers
            .iter()
            .take(10)
            .map(|f| f.path.strip_suffix(POINTER_SUFFIX).unwrap_or(&f.path))
            .collect();
        return Err(Error::NoSuchPath {
            path,
            place: place(),
            hint: if names.is_empty() {
                ": it tracks no dataset there".into()
            } else {
                format!(": its datasets are {}", names.join(", "))
            },
        });
    };
    let bytes = mirror
        .read_file(&commit, &holder.path, opts.offline)?
        .ok_or_else(|| Error::NoSuchPath {
            path: holder.path.clone(),
            place: place(),
            hint: String::new(),
        })?;
    let pointer = Pointer::parse(&holder.path, &bytes)?;
    let below = match pointer.kind {
        DatasetKind::Dir if path != pointer.path => path[pointer.path.len() + 1..].to_string(),
        _ => String::new(),
    };
    if pointer.kind == DatasetKind::File && path != pointer.path {
        return Err(Error::NoSuchPath {
            path,
            place: place(),
            hint: format!(": {} is a single-file dataset", pointer.path),
        });
    }
    let config_name = format!("source {} .dvx/config.toml", opts.url);
    let config = match mirror.read_file(&commit, ".dvx/config.toml", opts.offline)? {
        Some(b) => RepoConfig::parse(
            Path::new(&config_name),
            std::str::from_utf8(&b).map_err(|_| Error::InvalidConfig {
                path: config_name.clone().into(),
                detail: "not UTF-8 text".into(),
            })?,
        )?,
        None => RepoConfig::default(),
    };
    Ok(Located {
        url: opts.url.clone(),
        local_root,
        commit,
        contacted: resolved.fetched,
        pointer,
        below,
        path,
        config,
    })
}

/// Brings what `loc` needs into `store` (index files cached under `state_dir`): from
/// `--remote-url`, else the source's default remote (with this machine's credentials: the
/// environment, and the importing repository's local settings of a remote with the same URL),
/// else a local source's own store.
// Each argument is one independent input of the read (what, how recorded, into where).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch_located(
    loc: &Located,
    opts: &SourceOptions,
    op: crate::audit::AuditOperation,
    ws: Option<&Workspace>,
    store: &Store,
    state_dir: &Path,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let targets = [loc.target()];
    if crate::transfer::complete_locally(store, &targets)? {
        return Ok(TransferReport {
            remote: "the local store".into(),
            ..TransferReport::default()
        });
    }
    match open_source_data(loc, opts, ws, env)? {
        SourceData::Remote(remote) => {
            let started = crate::audit::now();
            let b = crate::transfer::session::Session::open(&remote);
            let report =
                crate::transfer::fetch_into_with(&b, store, state_dir, &targets, progress)?;
            let datasets = vec![crate::audit::AuditDataset {
                path: loc.pointer.path.clone(),
                id: loc.pointer.id.to_hex(),
                commit: Some(loc.commit.clone()),
            }];
            // The commit recorded is the source's (in `datasets`), not this repository's.
            let mut record =
                crate::audit::record_of(op, &remote, ws, env, started, datasets, &report)?;
            record.commit = None;
            crate::audit::write_record(&b, &remote, &record, progress)?;
            Ok(report)
        }
        SourceData::Store { store: src, label } => {
            crate::transfer::copy_from_store(&src, store, state_dir, &targets, &label, progress)
        }
    }
}

/// Where a source's data is read from.
pub(crate) enum SourceData {
    /// A remote: `--remote-url`, or the source's default remote.
    Remote(OpenRemote),
    /// The store of a source on this machine that has no remote.
    Store {
        /// The source's store.
        store: Box<Store>,
        /// How reports name it.
        label: String,
    },
}

/// Opens what holds `loc`'s data: `--remote-url`, else the source's default remote (with
/// this machine's credentials), else a local source's own store.
pub(crate) fn open_source_data(
    loc: &Located,
    opts: &SourceOptions,
    ws: Option<&Workspace>,
    env: &CloudEnv,
) -> Result<SourceData> {
    let from_remote = |name: &str, committed: &RemoteConfig, base: &Path, file: &Path| {
        let local = match ws {
            Some(ws) => credentials_for(ws, &committed.url)?,
            None => LocalRemote::default(),
        };
        let remote = crate::remote::open_with(name, committed, local, base, env, file)?;
        Ok(SourceData::Remote(remote))
    };
    if let Some(url) = &opts.remote_url {
        let mut committed = RemoteConfig {
            url: url.clone(),
            ..RemoteConfig::default()
        };
        let opened = from_remote(
            "--remote-url",
            &committed,
            &opts.cwd,
            Path::new("--remote-url"),
        )?;
        // A URL on the command line does not say whether the remote is encrypted: its keys/
        // do (one LIST), and then its key is opened like a configured one's.
        if let SourceData::Remote(r) = &opened {
            let keys = r
                .backend
                .list(crate::crypt::KEYS)
                .map_err(|e| Error::Remote {
                    remote: r.label(),
                    source: e,
                })?;
            if !keys.is_empty() {
                committed.encrypt = true;
                return from_remote(
                    "--remote-url",
                    &committed,
                    &opts.cwd,
                    Path::new("--remote-url"),
                );
            }
        }
        return Ok(opened);
    }
    let default = loc.config.core.default_remote.as_ref();
    if let Some((name, committed)) = default.and_then(|n| loc.config.remotes.get(n).map(|c| (n, c)))
    {
        let relative_dir =
            !committed.url.contains("://") && !Path::new(&committed.url).is_absolute();
        match (&loc.local_root, relative_dir) {
            (Some(root), _) => {
                return from_remote(
                    &format!("source {name}"),
                    committed,
                    root,
                    &root.join(".dvx/config.toml"),
                )
            }
            (None, false) => {
                return from_remote(
                    &format!("source {name}"),
                    committed,
                    &opts.cwd,
                    Path::new(".dvx/config.toml of the source"),
                )
            }
            (None, true) => {
                return Err(Error::SourceWithoutRemote {
                    url: loc.url.clone(),
                    commit: loc.commit.clone(),
                    local: format!(
                        " reachable from here (its remote `{name}` is the folder {}, relative to the source's own checkout)",
                        committed.url
                    ),
                })
            }
        }
    }
    let Some(root) = &loc.local_root else {
        return Err(Error::SourceWithoutRemote {
            url: loc.url.clone(),
            commit: loc.commit.clone(),
            local: String::new(),
        });
    };
    let dvx = root.join(".dvx");
    let src_dir = match LocalConfig::load(&dvx)?.store {
        Some(s) if s.is_absolute() => s,
        Some(s) => dvx.join(s),
        None => dvx.join("store"),
    };
    if !Store::exists(&src_dir) {
        return Err(Error::SourceWithoutRemote {
            url: loc.url.clone(),
            commit: loc.commit.clone(),
            local: format!(", and its store {} does not exist", src_dir.display()),
        });
    }
    Ok(SourceData::Store {
        store: Box::new(Store::open(&src_dir)?),
        label: format!("source store {}", src_dir.display()),
    })
}

/// This machine's settings of a remote of `ws` with the same URL as a source's remote: the
/// credentials a user set up for that bucket serve the import too.
fn credentials_for(ws: &Workspace, url: &str) -> Result<LocalRemote> {
    let committed = RepoConfig::load(&ws.dvx_dir())?;
    let local = LocalConfig::load(&ws.dvx_dir())?;
    for (name, lr) in &local.remotes {
        let same = lr.url.as_deref() == Some(url)
            || committed.remotes.get(name).is_some_and(|c| c.url == url);
        if same {
            return Ok(lr.clone());
        }
    }
    Ok(LocalRemote::default())
}
