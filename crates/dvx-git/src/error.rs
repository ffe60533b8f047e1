//! The error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while talking to git.
///
/// Every variant carries the path, revision or operation involved, and its message tells the
/// user what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No git repository was found in `path` or any of its parents.
    #[error(
        "not inside a git repository (searched upward from {}): run `git init` first, or cd into a repository",
        path.display()
    )]
    NotARepo {
        /// The directory the search started from.
        path: PathBuf,
    },

    /// A repository was found, but it has no working tree.
    #[error(
        "the git repository at {} has no working tree (it is bare, or you are inside its .git directory): \
         run dvx inside a checkout of the repository",
        git_dir.display()
    )]
    BareRepo {
        /// The repository's git directory.
        git_dir: PathBuf,
    },

    /// The revision could not be resolved.
    #[error("unknown revision `{rev}`: not a commit, branch or tag in this repository")]
    UnknownRevision {
        /// The revision as given by the user.
        rev: String,
    },

    /// The revision resolved to an object that is not a commit (a tree or a blob).
    #[error("revision `{rev}` names a {kind}, not a commit: pass a commit hash, branch or tag")]
    NotACommit {
        /// The revision as given by the user.
        rev: String,
        /// The kind of object it resolved to ("tree", "blob").
        kind: String,
    },

    /// A path given to [`Repo::stage`](crate::Repo::stage) or
    /// [`Repo::is_tracked`](crate::Repo::is_tracked) lies outside the working tree.
    #[error(
        "path {} is outside the git working tree {}: only files inside the repository can be used",
        path.display(),
        workdir.display()
    )]
    PathOutsideRepo {
        /// The offending path.
        path: PathBuf,
        /// The repository's working tree root.
        workdir: PathBuf,
    },

    /// Reading from the repository with gix failed.
    #[error(
        "git: could not {op}: {source} (if this persists, check the repository with `git fsck`)"
    )]
    Git {
        /// What was being done, e.g. "read the tree of commit 1a2b…".
        op: String,
        /// The underlying gix error.
        #[source]
        source: gix::Error,
    },

    /// A filesystem operation failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "access".
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The `git` executable could not be started.
    #[error("could not run `{command}`: {source}; make sure git is installed and on PATH")]
    GitSpawn {
        /// The command line that was attempted.
        command: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The `git` executable ran but failed.
    #[error("`{command}` failed in {} ({status}): {stderr}", workdir.display())]
    GitCommand {
        /// The command line that was run.
        command: String,
        /// The directory it ran in.
        workdir: PathBuf,
        /// The exit status, e.g. "exit status: 128".
        status: String,
        /// What git printed on stderr, trimmed.
        stderr: String,
    },

    /// A source repository (of `dvx get` / `import`) cannot be found.
    #[error("source {url} is not a git repository dvx can reach: {detail}; check the URL or path (anything `git clone` accepts)")]
    UnknownSource {
        /// The source as given.
        url: String,
        /// What git said.
        detail: String,
    },

    /// A source repository has no such revision.
    #[error("source {url} has no branch, tag or commit `{rev}`: check the name (`git ls-remote {url}` lists branches and tags)")]
    SourceRevision {
        /// The source.
        url: String,
        /// The revision asked for.
        rev: String,
    },

    /// Fetching from a source repository failed (network, access).
    #[error("could not fetch from source {url}: {detail}; check the network and your access to it, or use --offline for a revision fetched before")]
    SourceFetch {
        /// The source.
        url: String,
        /// What git said.
        detail: String,
    },

    /// `--offline`, and the source cache lacks what is needed.
    #[error("{what} of source {url} is not in the local cache, and --offline forbids fetching it: run once without --offline")]
    NotCached {
        /// The source.
        url: String,
        /// What is missing.
        what: String,
    },

    /// The git index stayed locked by another process for too long.
    #[error(
        "the git index is locked: {} exists, so another git process seems to be running \
         (waited {:.1}s). Wait for it to finish; if no git process is running, remove {} and retry",
        lock.display(),
        waited.as_secs_f64(),
        lock.display()
    )]
    IndexLocked {
        /// The lock file, usually `.git/index.lock`.
        lock: PathBuf,
        /// How long we retried before giving up.
        waited: Duration,
    },
}

impl Error {
    /// True for errors caused by how dvx was invoked (wrong directory, unknown revision, path outside
    /// the repository) rather than by a failure while working; the CLI maps these to exit code 2.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::NotARepo { .. }
                | Error::BareRepo { .. }
                | Error::UnknownRevision { .. }
                | Error::NotACommit { .. }
                | Error::PathOutsideRepo { .. }
                | Error::UnknownSource { .. }
                | Error::SourceRevision { .. }
        )
    }

    pub(crate) fn git(op: impl Into<String>, source: gix::Error) -> Self {
        Error::Git {
            op: op.into(),
            source,
        }
    }
}
