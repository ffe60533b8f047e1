//! The workspace: a git worktree with a `.dvx/` directory, its store, and its datasets.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use dvx_manifest::{pointer_path_for, DatasetKind, Pointer, POINTER_SUFFIX};
use dvx_store::{Store, StoreOptions};

use crate::error::{Error, Result};
use crate::fsx;

mod pointers;

pub(crate) use pointers::walk_error;

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
    pub(crate) repo: dvx_git::Repo,
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
    /// The dataset a pointer tracks.
    pub fn of(p: &dvx_manifest::Pointer) -> Dataset {
        Dataset {
            path: p.path.clone(),
            kind: p.kind,
        }
    }

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
        let root = fsx::plain_path(repo.workdir().to_path_buf());
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

    /// The commit a revision (hash, branch, tag, `HEAD~1`...) names.
    pub fn resolve(&self, rev: &str) -> Result<dvx_git::Commit> {
        Ok(self.repo.resolve(rev)?)
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
        // Always bytes on unix; a Windows root that is not Unicode cannot be recorded.
        let Ok(root) = fsx::path_bytes(&self.root) else {
            return;
        };
        let root = &*root;
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
        let parent = fsx::plain_path(std::fs::canonicalize(&parent).unwrap_or(parent));
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
            let s = c
                .as_os_str()
                .to_str()
                .ok_or_else(|| Error::InvalidArgument {
                    argument: "path",
                    message: format!("{}: dataset paths must be valid UTF-8", user.display()),
                })?;
            parts.push(s.to_string());
        }
        if parts.is_empty() {
            return Err(Error::InvalidArgument {
                argument: "path",
                message:
                    "cannot track the repository root itself: name a directory or file inside it"
                        .into(),
            });
        }
        if parts[0] == ".git" || parts[0] == ".dvx" {
            return Err(Error::InvalidArgument {
                argument: "path",
                message: format!(
                    "{}: paths inside .git or .dvx cannot be datasets",
                    user.display()
                ),
            });
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
            return Err(Error::InvalidArgument {
                argument: "path",
                message: format!(
                    "{path:?}: a dataset path cannot contain control characters (newline, tab...): rename it"
                ),
            });
        }
        Ok(path)
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

    /// Keeps the dataset out of git: adds dvx's marked entry for it to the `.gitignore` beside
    /// it (see the `gitignore` module), and removes stale dvx entries (whose pointer is gone
    /// from the worktree) from every `.gitignore` on the way there, since one of those could
    /// hide the dataset's pointer. Runs under a lock. Returns every repo-relative `.gitignore`
    /// to stage: the dataset's own first, then those that changed.
    pub fn ignore_dataset(&self, dataset: &str, kind: DatasetKind) -> Result<Vec<String>> {
        let (dir, name) = match dataset.rfind('/') {
            Some(i) => (&dataset[..i], &dataset[i + 1..]),
            None => ("", dataset),
        };
        let _lock = crate::lock::LockFile::acquire(
            &self.state_dir().join("gitignore.lock"),
            std::time::Duration::from_secs(60),
        )?;
        let own = join_rel(dir, ".gitignore");
        let mut out = vec![own.clone()];
        let mut at = String::new();
        let mut parts = dir.split('/').filter(|c| !c.is_empty());
        loop {
            let gi_rel = join_rel(&at, ".gitignore");
            let add = (gi_rel == own).then_some((name, kind == DatasetKind::Dir));
            let exists = |n: &str| {
                let pointer = self.abs(&pointer_path_for(&join_rel(&at, n)));
                // When in doubt (cannot stat), the pointer counts as present: keep the line.
                !matches!(fsx::lstat(&pointer), Ok(None))
            };
            if self.edit_gitignore(&gi_rel, add, &exists)? && gi_rel != own {
                out.push(gi_rel);
            }
            match parts.next() {
                Some(p) => at = join_rel(&at, p),
                None => break,
            }
        }
        Ok(out)
    }

    /// [`Workspace::ignore_dataset`] for a directory or file dataset, returning the dataset's
    /// own `.gitignore` only (edits of the others are staged by the next `dvx add`).
    pub fn ensure_ignored(&self, dataset: &str) -> Result<String> {
        let kind = match fsx::lstat(&self.abs(dataset))? {
            Some(m) if !m.is_dir() => DatasetKind::File,
            _ => DatasetKind::Dir,
        };
        let mut all = self.ignore_dataset(dataset, kind)?;
        Ok(all.swap_remove(0))
    }

    /// Applies `gitignore::update` to one `.gitignore`; true when it was rewritten.
    fn edit_gitignore(
        &self,
        gi_rel: &str,
        add: Option<(&str, bool)>,
        pointer_exists: &dyn Fn(&str) -> bool,
    ) -> Result<bool> {
        let gi = self.abs(gi_rel);
        let current = match fsx::read_small(&gi, fsx::MAX_TEXT_FILE) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if add.is_none() {
                    return Ok(false);
                }
                Vec::new()
            }
            Err(e) => return Err(Error::io("read", gi, e)),
        };
        let Some(new) = crate::gitignore::update(&current, add, pointer_exists) else {
            return Ok(false);
        };
        fsx::write_atomic(&gi, &new)?;
        Ok(true)
    }

    /// Stages repo-relative paths in git, serialised with other dvx processes. Callers stage
    /// only dvx's own files (pointers, `.gitignore`s, `.dvx/config.toml`), never data, so they
    /// are staged whatever the ignore rules say (`git add -f`): an ignore line, dvx's stale
    /// one or a broad one of the user's, must not keep a pointer out of git.
    pub fn stage(&self, rel: &[String]) -> Result<()> {
        let _lock = crate::lock::LockFile::acquire(
            &self.state_dir().join("git.lock"),
            std::time::Duration::from_secs(60),
        )?;
        let paths: Vec<PathBuf> = rel.iter().map(|r| self.abs(r)).collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.repo.stage_forced(&refs)?;
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
