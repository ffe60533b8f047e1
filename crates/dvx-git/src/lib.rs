//! Access to the git repository around a dvx project through [`Repo`], which resolves
//! revisions to [`Commit`]s, reads and lists files straight from git objects, walks the history
//! of a path as [`PathChange`]s and stages files via the `git` CLI.
//! All fallible operations return this crate's [`Result`] with its single [`Error`] type.
#![warn(missing_docs)]

mod cli;
mod error;
mod mirror;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use gix::ObjectId;

pub use error::{Error, Result};
pub use mirror::{Mirror, Resolved, TreeFile};

/// Size of the per-call object cache used when walking history.
const OBJECT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A git repository with a working tree. Cheap to share: it is `Send + Sync`, and every method
/// takes `&self`.
pub struct Repo {
    inner: gix::ThreadSafeRepository,
    workdir: PathBuf,
    git_dir: PathBuf,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.workdir)
            .field("git_dir", &self.git_dir)
            .finish_non_exhaustive()
    }
}

/// A resolved commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Full 40-character hex object id.
    pub id: String,
    /// Committer time, seconds since the unix epoch.
    pub time: i64,
    /// Committer time zone offset in seconds east of UTC.
    pub tz_offset_seconds: i32,
    /// First line of the commit message.
    pub summary: String,
    /// Author as `"Name <email>"`.
    pub author: String,
}

/// One commit in the history of a path where the blob at that path changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathChange {
    /// The commit that changed the path.
    pub commit: Commit,
    /// Blob bytes at that commit, `None` if the path was deleted in that commit.
    pub content: Option<Vec<u8>>,
}

impl Repo {
    /// Find the repository containing `start` (any directory inside the worktree).
    ///
    /// Honors `GIT_CEILING_DIRECTORIES`. Errors with [`Error::NotARepo`] if not inside a
    /// repository and with [`Error::BareRepo`] if the repository has no working tree.
    pub fn discover(start: &Path) -> Result<Repo> {
        let start = start.canonicalize().map_err(|source| Error::Io {
            op: "access",
            path: start.to_path_buf(),
            source,
        })?;
        let mut options = gix::discover::upwards::Options::default().apply_environment();
        options.match_ceiling_dir_or_error = false;
        let inner = gix::ThreadSafeRepository::discover_opts(&start, options, Default::default())
            .map_err(|err| {
            match err.downcast_any_ref::<gix::discover::upwards::Error>() {
                Some(gix::discover::upwards::Error::NoTrustedGitRepository { .. }) | None => {
                    Error::git(
                        format!("open the git repository containing {}", start.display()),
                        err,
                    )
                }
                Some(_) => Error::NotARepo {
                    path: start.clone(),
                },
            }
        })?;
        let canonical = |path: &Path| {
            path.canonicalize().map_err(|source| Error::Io {
                op: "access",
                path: path.to_path_buf(),
                source,
            })
        };
        let git_dir = canonical(inner.git_dir())?;
        let Some(workdir) = inner.work_dir() else {
            return Err(Error::BareRepo { git_dir });
        };
        let workdir = canonical(workdir)?;
        Ok(Repo {
            inner,
            workdir,
            git_dir,
        })
    }

    /// Absolute, canonicalized worktree root.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Absolute path of the .git directory (for a linked worktree, that worktree's git dir).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The URL of the git remote `name` (`remote.<name>.url`), if it has one.
    pub fn remote_url(&self, name: &str) -> Option<String> {
        let repo = self.inner.to_thread_local();
        let url = repo
            .config_snapshot()
            .string(format!("remote.{name}.url").as_str())
            .map(|u| u.to_string());
        url
    }

    /// `user.email` as git would use it for a commit here (the repository's config, then the
    /// user's and the system's), if set: who ran a command, for a remote's audit trail.
    pub fn user_email(&self) -> Option<String> {
        let repo = self.inner.to_thread_local();
        let email = repo
            .config_snapshot()
            .string("user.email")
            .map(|e| e.to_string())
            .filter(|e| !e.trim().is_empty());
        email
    }

    /// Resolve anything git accepts (full or short hash, `HEAD`, `HEAD~2`, tags with annotated
    /// tags peeled to their commit, branches, remote branches, `v1^{commit}`, ...) to a commit.
    ///
    /// Errors with [`Error::UnknownRevision`] if `rev` names nothing, and with
    /// [`Error::NotACommit`] if it names a tree or blob.
    pub fn resolve(&self, rev: &str) -> Result<Commit> {
        let unknown = || Error::UnknownRevision {
            rev: rev.to_string(),
        };
        if rev.trim().is_empty() {
            return Err(unknown());
        }
        let repo = self.inner.to_thread_local();
        let id = repo.rev_parse_single(rev).map_err(|_| unknown())?;
        let object = id
            .try_object()
            .map_err(|e| Error::git(format!("read object {id} (revision `{rev}`)"), e))?
            .ok_or_else(unknown)?;
        let object = object
            .peel_tags_to_end()
            .map_err(|e| Error::git(format!("peel tag `{rev}`"), e))?;
        if object.kind != gix::object::Kind::Commit {
            return Err(Error::NotACommit {
                rev: rev.to_string(),
                kind: object.kind.to_string(),
            });
        }
        let commit = object.into_commit();
        to_commit(&commit)
    }

    /// HEAD's commit, or `None` in a repository without commits yet (unborn branch).
    pub fn head(&self) -> Result<Option<Commit>> {
        let repo = self.inner.to_thread_local();
        let head = repo
            .head()
            .map_err(|e| Error::git("read HEAD", e))?
            .try_into_peeled_id()
            .map_err(|e| Error::git("resolve HEAD", e))?;
        match head {
            None => Ok(None),
            Some(id) => {
                let commit = repo
                    .find_commit(id)
                    .map_err(|e| Error::git(format!("read HEAD commit {id}"), e))?;
                to_commit(&commit).map(Some)
            }
        }
    }

    /// Bytes of the file at `path` (`"a/b/c.dvx"`, relative to the repository root, `/`
    /// separators) in the commit's tree.
    ///
    /// `Ok(None)` if there is no such path or it is not a regular file (a directory, submodule
    /// or symlink).
    pub fn read_file(&self, commit: &Commit, path: &str) -> Result<Option<Vec<u8>>> {
        let repo = self.inner.to_thread_local();
        let id = commit_object_id(commit)?;
        let Some(blob) = blob_at(&repo, id, path)? else {
            return Ok(None);
        };
        let blob = repo
            .find_blob(blob)
            .map_err(|e| Error::git(format!("read `{path}` at commit {id}"), e))?;
        Ok(Some(blob.detach().data))
    }

    /// Every regular-file path in the commit's tree whose file name ends with `suffix` (e.g.
    /// `".dvx"`), sorted, `/`-separated.
    ///
    /// Anything below a top-level directory named `.dvx` or `.git` is skipped, as are symlinks
    /// and submodules. Non-UTF-8 names are converted lossily.
    pub fn list_files_with_suffix(&self, commit: &Commit, suffix: &str) -> Result<Vec<String>> {
        let repo = self.inner.to_thread_local();
        let id = commit_object_id(commit)?;
        let root = repo
            .find_commit(id)
            .and_then(|c| c.tree_id())
            .map_err(|e| Error::git(format!("read the tree of commit {id}"), e))?
            .detach();
        let mut found = Vec::new();
        let mut pending: Vec<(ObjectId, String)> = vec![(root, String::new())];
        while let Some((tree_id, prefix)) = pending.pop() {
            let tree = repo
                .find_tree(tree_id)
                .map_err(|e| Error::git(format!("read tree {tree_id} at commit {id}"), e))?;
            for entry in tree.iter() {
                let entry = entry
                    .map_err(|e| Error::git(format!("decode tree {tree_id} at commit {id}"), e))?;
                let name = entry.filename();
                if prefix.is_empty() && (name == ".dvx" || name == ".git") {
                    continue;
                }
                let mode = entry.mode();
                let path = format!("{prefix}{}", name.to_str_lossy());
                if mode.is_tree() {
                    pending.push((entry.object_id(), format!("{path}/")));
                } else if mode.is_blob() && name.ends_with(suffix.as_bytes()) {
                    found.push(path);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Every regular file staged in the git index whose name ends with `suffix`, with its
    /// staged bytes (what the next commit would record), sorted by path. As at a commit,
    /// symlinks and submodules are skipped, and so are `git add --intent-to-add` entries,
    /// which stage no bytes.
    pub fn index_files_with_suffix(&self, suffix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        use gix::index::entry::{Flags, Mode};
        let repo = self.inner.to_thread_local();
        let index = repo
            .index_or_empty()
            .map_err(|e| Error::git("read the git index", e))?;
        let mut out = Vec::new();
        for entry in index.entries() {
            let path = entry.path(&index).to_str_lossy().into_owned();
            let name = path.rsplit('/').next().unwrap_or(&path);
            if !name.ends_with(suffix) || path.starts_with(".dvx/") || path.starts_with(".git/") {
                continue;
            }
            if !matches!(entry.mode, Mode::FILE | Mode::FILE_EXECUTABLE)
                || entry.flags.contains(Flags::INTENT_TO_ADD)
            {
                continue;
            }
            let blob = repo
                .find_blob(entry.id)
                .map_err(|e| Error::git(format!("read `{path}` as staged in the git index"), e))?;
            out.push((path, blob.detach().data));
        }
        out.sort();
        Ok(out)
    }

    /// Paths of the git index whose file name ends with `suffix` (outside `.dvx/` and `.git/`),
    /// sorted; names only, nothing is read.
    pub fn index_paths_with_suffix(&self, suffix: &str) -> Result<Vec<String>> {
        let repo = self.inner.to_thread_local();
        let index = repo
            .index_or_empty()
            .map_err(|e| Error::git("read the git index", e))?;
        let mut out = Vec::new();
        for entry in index.entries() {
            let path = entry.path(&index).to_str_lossy().into_owned();
            let name = path.rsplit('/').next().unwrap_or(&path);
            if name.ends_with(suffix) && !path.starts_with(".dvx/") && !path.starts_with(".git/") {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every commit reachable from any reference (branches, tags, remote-tracking branches,
    /// HEAD, stash), newest first. Commits beyond a shallow boundary are simply absent.
    pub fn all_commits(&self) -> Result<Vec<Commit>> {
        let repo = self.inner.to_thread_local();
        let mut tips: Vec<ObjectId> = Vec::new();
        if let Ok(Some(id)) = repo.head_id().map(|id| Some(id.detach())) {
            tips.push(id);
        }
        let platform = repo
            .references()
            .map_err(|e| Error::git("list references", e))?;
        let iter = platform
            .all()
            .map_err(|e| Error::git("list references", e))?;
        for r in iter.flatten() {
            let mut r = r;
            if let Ok(commit) = r.peel_to_commit() {
                tips.push(commit.id);
            }
        }
        tips.sort();
        tips.dedup();
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        let walk = repo
            .rev_walk(tips)
            .sorting(gix::revision::walk::Sorting::ByCommitTime(
                gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            ))
            .all()
            .map_err(|e| Error::git("walk the history of all references", e))?;
        let mut out = Vec::new();
        for info in walk {
            let Ok(info) = info else {
                // A missing parent (shallow clone, partial history) ends that line of history.
                continue;
            };
            let commit = repo
                .find_commit(info.id)
                .map_err(|e| Error::git(format!("read commit {}", info.id), e))?;
            out.push(to_commit(&commit)?);
        }
        Ok(out)
    }

    /// Like `git log <start> -- <path>`: walk all commits reachable from `start`, newest first by
    /// commit time, and return those where the blob at `path` differs from the one in the
    /// commit's first parent.
    ///
    /// A root commit counts as a change if the path exists in it. In shallow clones a commit
    /// whose parents are missing is treated like a root commit. The path counts as absent where
    /// it is a directory, submodule or symlink.
    pub fn log_path(&self, start: &Commit, path: &str) -> Result<Vec<PathChange>> {
        let mut repo = self.inner.to_thread_local();
        repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        let start_id = commit_object_id(start)?;
        let shallow: Vec<ObjectId> = repo
            .shallow_commits()
            .map_err(|e| Error::git("read the list of shallow commits", e))?
            .map(|commits| commits.iter().copied().collect())
            .unwrap_or_default();
        let walk = repo
            .rev_walk([start_id])
            .sorting(gix::revision::walk::Sorting::ByCommitTime(
                gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            ))
            .all()
            .map_err(|e| Error::git(format!("walk the history of commit {start_id}"), e))?;

        // Blob ids at `path`, remembered for parents until the walk reaches them.
        let mut known: HashMap<ObjectId, Option<ObjectId>> = HashMap::new();
        let mut changes = Vec::new();
        for info in walk {
            let info =
                info.map_err(|e| Error::git(format!("walk the history of commit {start_id}"), e))?;
            let id = info.id;
            let current = match known.remove(&id) {
                Some(blob) => blob,
                None => blob_at(&repo, id, path)?,
            };
            let parent = info
                .parent_ids
                .first()
                .copied()
                .filter(|parent| !shallow.contains(&id) && repo.has_object(parent));
            let before = match parent {
                None => None,
                Some(parent) => match known.get(&parent) {
                    Some(blob) => *blob,
                    None => {
                        let blob = blob_at(&repo, parent, path)?;
                        known.insert(parent, blob);
                        blob
                    }
                },
            };
            if current == before {
                continue;
            }
            let commit = repo
                .find_commit(id)
                .map_err(|e| Error::git(format!("read commit {id}"), e))?;
            let content = match current {
                None => None,
                Some(blob) => Some(
                    repo.find_blob(blob)
                        .map_err(|e| Error::git(format!("read `{path}` at commit {id}"), e))?
                        .detach()
                        .data,
                ),
            };
            changes.push(PathChange {
                commit: to_commit(&commit)?,
                content,
            });
        }
        Ok(changes)
    }
}

/// Parse the id of a [`Commit`], which may have been built by hand.
fn commit_object_id(commit: &Commit) -> Result<ObjectId> {
    ObjectId::from_hex(commit.id.as_bytes()).map_err(|_| Error::UnknownRevision {
        rev: commit.id.clone(),
    })
}

/// The id of the regular-file blob at `path` in commit `commit`, if there is one.
fn blob_at(repo: &gix::Repository, commit: ObjectId, path: &str) -> Result<Option<ObjectId>> {
    let mut components = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return Ok(None),
            name => components.push(name.as_bytes()),
        }
    }
    if components.is_empty() {
        return Ok(None);
    }
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| Error::git(format!("read the tree of commit {commit}"), e))?;
    let entry = tree
        .lookup_entry(components)
        .map_err(|e| Error::git(format!("look up `{path}` at commit {commit}"), e))?;
    Ok(entry
        .filter(|entry| entry.mode().is_blob())
        .map(|entry| entry.object_id()))
}

/// Convert a gix commit into our plain [`Commit`].
fn to_commit(commit: &gix::Commit<'_>) -> Result<Commit> {
    let id = commit.id;
    let decode = |e| Error::git(format!("decode commit {id}"), e);
    let committer = commit.committer().map_err(decode)?;
    let (time, tz_offset_seconds) = match committer.time() {
        Ok(time) => (time.seconds, time.offset),
        Err(_) => (committer.seconds(), 0),
    };
    let author = commit.author().map_err(decode)?;
    let summary = commit
        .message_raw_sloppy()
        .lines()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())
        .map(|line| line.to_str_lossy().into_owned())
        .unwrap_or_default();
    Ok(Commit {
        id: id.to_hex().to_string(),
        time,
        tz_offset_seconds,
        summary,
        author: format!("{} <{}>", author.name, author.email),
    })
}
