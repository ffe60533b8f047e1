//! The workspace: a git worktree with a `.dvx/` directory, its store, and its datasets.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use dvx_manifest::{pointer_path_for, DatasetKind, Pointer, POINTER_SUFFIX};
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

    /// Pointer files (repo-relative) in the worktree, sorted: the files named `*.dvx` the walk
    /// finds (honouring `.gitignore`s, so ignored folders such as the datasets themselves are
    /// not walked), plus every pointer in git's index that is in the worktree, since an ignore
    /// rule must not hide a pointer dvx staged.
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
            let ent = ent.map_err(|e| walk_error(self.root(), e))?;
            // Anything but a folder named `*.dvx` is a pointer: one that is a link or a FIFO
            // is refused when read, never silently skipped.
            if ent.file_type().is_none_or(|t| t.is_dir()) {
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
        for f in self.repo.index_paths_with_suffix(POINTER_SUFFIX)? {
            if is_pointer_name(&f) && matches!(fsx::lstat(&self.abs(&f))?, Some(m) if !m.is_dir()) {
                out.push(f);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Reads the worktree's pointer of a dataset, if present.
    pub fn worktree_pointer(&self, dataset: &str) -> Result<Option<Pointer>> {
        let file = dvx_manifest::pointer_path_for(dataset);
        let path = self.abs(&file);
        match fsx::read_small(&path, dvx_manifest::limits::MAX_POINTER_LEN) {
            Ok(bytes) => Ok(Some(Pointer::parse(&file, &bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Every pointer in the worktree, parsed; refuses two that track overlapping paths
    /// ([`Error::OverlappingDatasets`]), which no command can apply both of.
    pub fn all_worktree_pointers(&self) -> Result<Vec<Pointer>> {
        let out = self.all_worktree_pointers_unchecked()?;
        check_overlap(out.iter(), "in the worktree")?;
        Ok(out)
    }

    /// Every pointer in the worktree, parsed, overlapping or not (gc and fsck must see every
    /// version).
    pub fn all_worktree_pointers_unchecked(&self) -> Result<Vec<Pointer>> {
        let mut out = Vec::new();
        for f in self.worktree_pointers()? {
            let path = self.abs(&f);
            let bytes = fsx::read_small(&path, dvx_manifest::limits::MAX_POINTER_LEN)
                .map_err(|e| Error::io("read", &path, e))?;
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
                self.refuse_outer(commit, &parts[..n], &p)?;
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

    /// Refuses when a dataset above `inner` (whose path is `parts`) also has a pointer.
    fn refuse_outer(
        &self,
        commit: Option<&dvx_git::Commit>,
        parts: &[&str],
        inner: &Pointer,
    ) -> Result<()> {
        for n in (1..parts.len()).rev() {
            let outer = parts[..n].join("/");
            let file = pointer_path_for(&outer);
            let present = match commit {
                Some(c) => self.repo.read_file(c, &file)?.is_some(),
                None => fsx::lstat(&self.abs(&file))?.is_some_and(|m| m.is_file()),
            };
            if present {
                return Err(Error::OverlappingDatasets {
                    outer,
                    outer_pointer: file,
                    inner: inner.path.clone(),
                    inner_pointer: inner.file(),
                    place: match commit {
                        Some(c) => format!("at {}", c.id),
                        None => "in the worktree".into(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Every pointer at a commit; refuses two that track overlapping paths
    /// ([`Error::OverlappingDatasets`]).
    pub fn pointers_at(&self, commit: &dvx_git::Commit) -> Result<Vec<(Pointer, Vec<u8>)>> {
        let out = self.pointers_at_unchecked(commit)?;
        check_overlap(out.iter().map(|(p, _)| p), &format!("at {}", commit.id))?;
        Ok(out)
    }

    /// Every pointer at a commit, overlapping or not (gc and fsck must see every version).
    pub fn pointers_at_unchecked(
        &self,
        commit: &dvx_git::Commit,
    ) -> Result<Vec<(Pointer, Vec<u8>)>> {
        let mut out = Vec::new();
        for f in self.repo.list_files_with_suffix(commit, POINTER_SUFFIX)? {
            if !is_pointer_name(&f) {
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

/// True for a pointer file path: named `<something>.dvx`, not just `.dvx`.
fn is_pointer_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() > POINTER_SUFFIX.len() && name.ends_with(POINTER_SUFFIX)
}

/// Refuses pointers of which one tracks a path inside another's (`data.dvx` and
/// `data/sub.dvx`): both would be applied to the same files.
fn check_overlap<'a>(pointers: impl Iterator<Item = &'a Pointer>, place: &str) -> Result<()> {
    let mut paths: Vec<&Pointer> = pointers.collect();
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    // Sorted, a dataset's nested ones follow it, possibly after unrelated siblings such as
    // `data-x` (`-` sorts before `/`): compare each with every earlier one still a prefix.
    let mut open: Vec<&Pointer> = Vec::new();
    for p in paths {
        while let Some(top) = open.last() {
            if p.path.starts_with(&format!("{}/", top.path)) {
                return Err(Error::OverlappingDatasets {
                    outer: top.path.clone(),
                    outer_pointer: top.file(),
                    inner: p.path.clone(),
                    inner_pointer: p.file(),
                    place: place.to_string(),
                });
            }
            if p.path.starts_with(top.path.as_str()) {
                break;
            }
            open.pop();
        }
        open.push(p);
    }
    Ok(())
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

/// A failed step of a directory walk, as the I/O error it wraps (with the path it names).
pub(crate) fn walk_error(base: &Path, e: ignore::Error) -> Error {
    let path = walk_error_path(&e).unwrap_or(base).to_path_buf();
    let detail = e.to_string();
    match e.into_io_error() {
        Some(io) => Error::io("list", path, io),
        None => Error::io("list", path, std::io::Error::other(detail)),
    }
}

fn walk_error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        _ => None,
    }
}
