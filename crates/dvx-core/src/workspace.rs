//! The workspace: a git worktree with a `.dvx/` directory, its store, and its datasets.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use dvx_manifest::{DatasetKind, Pointer, POINTER_SUFFIX};
use dvx_store::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::fsx;

/// How to open a workspace (resolved by the binary from flags, environment and config).
#[derive(Clone, Debug, Default)]
pub struct WorkspaceOptions {
    /// A directory inside the worktree (usually the current directory).
    pub start: PathBuf,
    /// Use this store directory instead of `.dvx/store` (shared stores; `DVX_STORE`).
    pub store: Option<PathBuf>,
    /// Tunables for a store created by this run.
    pub store_options: StoreOptions,
}

/// Directory of a store listing the repositories that use it (see `Workspace::store`).
pub(crate) const STORE_USERS_DIR: &str = "repos";

/// A git worktree with dvx in it.
pub struct Workspace {
    /// The git repository.
    pub repo: dvx_git::Repo,
    root: PathBuf,
    store_dir: PathBuf,
    store_options: StoreOptions,
    store: OnceLock<Store>,
}

/// A dataset: a directory or a single file tracked by `<path>.dvx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Repo-relative path, `/`-separated.
    pub path: String,
    /// Directory or single file.
    pub kind: DatasetKind,
}

impl Dataset {
    /// Repo-relative path of the pointer file.
    pub fn pointer_file(&self) -> String {
        format!("{}{POINTER_SUFFIX}", self.path)
    }

    /// The directory whose entries the root tree describes (the dataset itself for a
    /// directory, its parent for a single file), repo-relative ("" = root).
    pub fn base(&self) -> String {
        match self.kind {
            DatasetKind::Dir => self.path.clone(),
            DatasetKind::File => match self.path.rfind('/') {
                Some(i) => self.path[..i].to_string(),
                None => String::new(),
            },
        }
    }

    /// For a single-file dataset, its file name (the only entry it manages).
    pub fn only(&self) -> Option<Vec<u8>> {
        match self.kind {
            DatasetKind::Dir => None,
            DatasetKind::File => Some(
                self.path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&self.path)
                    .as_bytes()
                    .to_vec(),
            ),
        }
    }

    /// Display path of an entry given relative to [`Dataset::base`].
    pub fn display(&self, rel: &str) -> String {
        join_rel(&self.base(), rel)
    }
}

/// A dataset found for a path: its pointer, the pointer's bytes (at a revision), and the
/// path below the dataset base ("" = the whole dataset).
pub type Found = (Pointer, Option<Vec<u8>>, String);

/// Joins repo-relative paths.
pub fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

impl Workspace {
    /// Finds the repository around `opts.start`. Does not require `dvx init`.
    pub fn open(opts: &WorkspaceOptions) -> Result<Workspace> {
        let repo = dvx_git::Repo::discover(&opts.start)?;
        let root = repo.workdir().to_path_buf();
        let local = crate::config::LocalConfig::load(&root.join(".dvx"))?;
        let store_dir = match (&opts.store, local.store) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) if s.is_absolute() => s,
            (None, Some(s)) => root.join(".dvx").join(s),
            (None, None) => root.join(".dvx/store"),
        };
        Ok(Workspace {
            repo,
            root,
            store_dir,
            store_options: opts.store_options,
            store: OnceLock::new(),
        })
    }

    /// Worktree root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.dvx/` directory.
    pub fn dvx_dir(&self) -> PathBuf {
        self.root.join(".dvx")
    }

    /// Local state directory (stat cache, locks).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".dvx/state")
    }

    /// Where the store lives.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// True when `dvx init` ran here (`.dvx/config.toml` exists, e.g. committed).
    pub fn is_initialized(&self) -> bool {
        self.root.join(".dvx/config.toml").is_file()
    }

    /// Errors unless initialised.
    pub fn require_init(&self) -> Result<()> {
        if self.is_initialized() {
            Ok(())
        } else {
            Err(Error::NotInitialized {
                root: self.root.clone(),
            })
        }
    }

    /// The store, created on first use (a fresh clone has `.dvx/config.toml` but no store).
    pub fn store(&self) -> Result<&Store> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = Store::open_or_create(&self.store_dir, &self.store_options)?;
        self.register_with(&s);
        Ok(self.store.get_or_init(|| s))
    }

    /// Records this repository as a user of `store` (`<store>/repos/<hash of the root>`,
    /// holding the root's path), so that gc run from any repository sharing the store keeps
    /// this one's versions too. One stat per command once recorded; best effort (a store
    /// this user cannot write is not collected by this user either).
    fn register_with(&self, store: &Store) {
        use std::os::unix::ffi::OsStrExt;
        let root = self.root.as_os_str().as_bytes();
        let path = store
            .root()
            .join(STORE_USERS_DIR)
            .join(&blake3::hash(root).to_hex()[..32]);
        if path.is_file() {
            return;
        }
        if let Some(dir) = path.parent() {
            if fsx::create_dir_all(dir).is_ok() {
                let _ = fsx::write_atomic(&path, root);
            }
        }
    }

    /// Absolute path of a repo-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Turns a path given by the user (relative to `cwd`) into a repo-relative dataset path.
    /// `data/`, `./data` and `data.dvx` all name the dataset `data`.
    pub fn dataset_path(&self, cwd: &Path, user: &Path) -> Result<String> {
        let abs = if user.is_absolute() {
            user.to_path_buf()
        } else {
            cwd.join(user)
        };
        let mut norm = PathBuf::new();
        for c in abs.components() {
            match c {
                Component::ParentDir => {
                    norm.pop();
                }
                Component::CurDir => {}
                c => norm.push(c),
            }
        }
        // Resolve symlinks of the parent only: the dataset itself is never followed.
        let (parent, name) = match (norm.parent(), norm.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), Some(n.to_owned())),
            _ => (norm.clone(), None),
        };
        let parent = std::fs::canonicalize(&parent).unwrap_or(parent);
        let full = match name {
            Some(n) => parent.join(n),
            None => parent,
        };
        let outside = || Error::OutsideRepo {
            path: user.to_path_buf(),
            root: self.root.clone(),
        };
        let rel = full.strip_prefix(&self.root).map_err(|_| outside())?;
        let mut parts = Vec::new();
        for c in rel.components() {
            let s = c.as_os_str().to_str().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: dataset paths must be valid UTF-8",
                    user.display()
                ))
            })?;
            parts.push(s.to_string());
        }
        if parts.is_empty() {
            return Err(Error::Usage(
                "cannot track the repository root itself: name a directory or file inside it"
                    .into(),
            ));
        }
        if parts[0] == ".git" || parts[0] == ".dvx" {
            return Err(Error::Usage(format!(
                "{}: paths inside .git or .dvx cannot be datasets",
                user.display()
            )));
        }
        let mut path = parts.join("/");
        if let Some(stripped) = path.strip_suffix(POINTER_SUFFIX) {
            if !stripped.is_empty() && !stripped.ends_with('/') {
                path = stripped.to_string();
            }
        }
        for comp in path.split('/') {
            dvx_manifest::validate_name(comp.as_bytes())?;
        }
        if path.chars().any(char::is_control) {
            return Err(Error::Usage(format!(
                "{:?}: a dataset path cannot contain control characters (newline, tab...): rename it",
                path
            )));
        }
        Ok(path)
    }

    /// Pointer files (repo-relative) in the worktree, sorted.
    pub fn worktree_pointers(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let walker = ignore::WalkBuilder::new(&self.root)
            .hidden(false)
            .parents(false)
            .git_global(false)
            .require_git(false)
            .filter_entry(|e| {
                let n = e.file_name();
                n != ".git" && n != ".dvx"
            })
            .build();
        for ent in walker {
            let ent = ent.map_err(|e| Error::Refused(format!("cannot list the worktree: {e}")))?;
            if !ent.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let name = ent.file_name().to_string_lossy();
            if !name.ends_with(POINTER_SUFFIX) || name.len() == POINTER_SUFFIX.len() {
                continue;
            }
            if let Ok(rel) = ent.path().strip_prefix(&self.root) {
                if let Some(s) = rel.to_str() {
                    out.push(s.replace('\\', "/"));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads the worktree's pointer of a dataset, if present.
    pub fn worktree_pointer(&self, dataset: &str) -> Result<Option<Pointer>> {
        let file = dvx_manifest::pointer_path_for(dataset);
        let path = self.abs(&file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Pointer::parse(&file, &bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Every pointer in the worktree, parsed.
    pub fn all_worktree_pointers(&self) -> Result<Vec<Pointer>> {
        let mut out = Vec::new();
        for f in self.worktree_pointers()? {
            let bytes = fsx::read(&self.abs(&f))?;
            out.push(Pointer::parse(&f, &bytes)?);
        }
        Ok(out)
    }

    /// The pointer of a dataset at a commit, if present there.
    pub fn pointer_at(
        &self,
        commit: &dvx_git::Commit,
        dataset: &str,
    ) -> Result<Option<(Pointer, Vec<u8>)>> {
        let file = dvx_manifest::pointer_path_for(dataset);
        match self.repo.read_file(commit, &file)? {
            Some(bytes) => Ok(Some((Pointer::parse(&file, &bytes)?, bytes))),
            None => Ok(None),
        }
    }

    /// Finds the dataset holding repo-relative `path` (the dataset itself or anything below
    /// it) in the worktree (`commit` None) or at a commit. Returns the pointer, its raw bytes
    /// (at a commit) and the path below the dataset's base ("" for the whole dataset).
    pub fn find_dataset(
        &self,
        commit: Option<&dvx_git::Commit>,
        path: &str,
    ) -> Result<Option<Found>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for n in (1..=parts.len()).rev() {
            let prefix = parts[..n].join("/");
            let found = match commit {
                Some(c) => self.pointer_at(c, &prefix)?.map(|(p, raw)| (p, Some(raw))),
                None => self.worktree_pointer(&prefix)?.map(|p| (p, None)),
            };
            if let Some((p, raw)) = found {
                let below = parts[n..].join("/");
                let rel = match p.kind {
                    DatasetKind::Dir => below,
                    DatasetKind::File if below.is_empty() => String::new(),
                    DatasetKind::File => join_rel(parts[n - 1], &below),
                };
                return Ok(Some((p, raw, rel)));
            }
        }
        Ok(None)
    }

    /// Every pointer at a commit.
    pub fn pointers_at(&self, commit: &dvx_git::Commit) -> Result<Vec<(Pointer, Vec<u8>)>> {
        let mut out = Vec::new();
        for f in self.repo.list_files_with_suffix(commit, POINTER_SUFFIX)? {
            if f.len() == POINTER_SUFFIX.len() || f.ends_with(&format!("/{POINTER_SUFFIX}")) {
                continue;
            }
            if let Some(bytes) = self.repo.read_file(commit, &f)? {
                out.push((Pointer::parse(&f, &bytes)?, bytes));
            }
        }
        Ok(out)
    }

    /// Makes every directory of repo-relative `rel` (the path itself included) a real
    /// directory, creating missing ones, and refuses symlinks or files on the way: a hostile
    /// pointer such as `lnk/data.dvx` with a symlink `lnk -> /elsewhere` must never make us
    /// write outside the worktree.
    pub fn ensure_real_dirs(&self, rel: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        for comp in rel.split('/').filter(|c| !c.is_empty()) {
            path.push(comp);
            match fsx::lstat(&path)? {
                Some(m) if m.is_dir() => {}
                Some(_) => return Err(Error::UnsafeParent { path }),
                None => match std::fs::create_dir(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                    Err(e) => return Err(Error::io("create directory", &path, e)),
                },
            }
        }
        Ok(path)
    }

    /// Adds `/<name>` to the .gitignore beside the dataset (under a lock) unless present.
    /// Returns the repo-relative .gitignore path.
    pub fn ensure_ignored(&self, dataset: &str) -> Result<String> {
        let (dir, name) = match dataset.rfind('/') {
            Some(i) => (&dataset[..i], &dataset[i + 1..]),
            None => ("", dataset),
        };
        let gi_rel = join_rel(dir, ".gitignore");
        let gi = self.abs(&gi_rel);
        let line = format!("/{name}");
        let _lock = crate::lock::LockFile::acquire(
            &self.state_dir().join("gitignore.lock"),
            std::time::Duration::from_secs(60),
        )?;
        let current = match std::fs::read_to_string(&gi) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("read", gi, e)),
        };
        if current.lines().any(|l| {
            let l = l.trim();
            l == line || l == format!("{line}/") || l == name
        }) {
            return Ok(gi_rel);
        }
        let mut text = current;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        fsx::write_atomic(&gi, text.as_bytes())?;
        Ok(gi_rel)
    }

    /// Stages repo-relative paths in git, serialised with other dvx processes.
    pub fn stage(&self, rel: &[String]) -> Result<()> {
        let _lock = crate::lock::LockFile::acquire(
            &self.state_dir().join("git.lock"),
            std::time::Duration::from_secs(60),
        )?;
        let paths: Vec<PathBuf> = rel.iter().map(|r| self.abs(r)).collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.repo.stage(&refs)?;
        Ok(())
    }
}

/// What `dvx init` did.
#[derive(Clone, Debug)]
pub struct InitReport {
    /// The `.dvx` directory.
    pub dvx_dir: PathBuf,
    /// False when it was already initialised.
    pub created: bool,
}

/// Sets up `.dvx/` (config.toml and .gitignore, staged) and the local store. Idempotent.
pub fn init(ws: &Workspace) -> Result<InitReport> {
    let dir = ws.dvx_dir();
    fsx::create_dir_all(&dir)?;
    let created = !ws.is_initialized();
    let cfg = dir.join("config.toml");
    if created {
        fsx::write_atomic(
            &cfg,
            b"# dvx repository configuration: committed with the code.\n# Machine-specific settings (store location, credentials) go in config.local.toml.\n[core]\nformat = 1\n",
        )?;
    }
    let gi = dir.join(".gitignore");
    if !gi.exists() {
        fsx::write_atomic(&gi, b"/store/\n/state/\n/tmp/\n/config.local.toml\n")?;
    }
    ws.store()?;
    ws.stage(&[".dvx/config.toml".into(), ".dvx/.gitignore".into()])?;
    Ok(InitReport {
        dvx_dir: dir,
        created,
    })
}
