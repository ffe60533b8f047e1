use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in an operation. Messages say what happened, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the object store.
    #[error(transparent)]
    Store(#[from] dvx_store::Error),
    /// From manifest parsing.
    #[error(transparent)]
    Manifest(#[from] dvx_manifest::Error),
    /// From git.
    #[error(transparent)]
    Git(#[from] dvx_git::Error),
    /// A file-system call failed.
    #[error("{op} {}: {source}", qp(path))]
    Io {
        /// Operation.
        op: &'static str,
        /// Path concerned.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The disk filled up.
    #[error(
        "disk full while writing {}: free some space and rerun; no file was left half-written",
        qp(path)
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// `dvx init` was never run in this repository.
    #[error("dvx is not initialised in {root}: run `dvx init` first")]
    NotInitialized {
        /// Repository root.
        root: PathBuf,
    },
    /// A path argument is outside the repository.
    #[error(
        "{path} is outside the git repository at {root}: datasets must live inside the worktree"
    )]
    OutsideRepo {
        /// The path given.
        path: PathBuf,
        /// Repository root.
        root: PathBuf,
    },
    /// An argument of the call is invalid (a bad path, spec, key or value, options that
    /// exclude each other). `argument` names which one.
    #[error("{message}")]
    InvalidArgument {
        /// The argument concerned ("path", "key", "spec", "--worktree", ...).
        argument: &'static str,
        /// What is wrong and what to pass instead.
        message: String,
    },
    /// A path argument names nothing on disk.
    #[error("{}: no such file or directory", crate::names::quote(path))]
    NoSuchFile {
        /// The path as given.
        path: String,
    },
    /// An entry is not something dvx can track or read as a file (a FIFO, a socket, a device,
    /// a symlink where a file must be, a folder where a file must be).
    #[error("{}{}: {detail}", crate::names::quote(path), place)]
    NotARegularFile {
        /// The path.
        path: String,
        /// "" (on disk) or " at revision <rev>".
        place: String,
        /// What it is and what to do.
        detail: String,
    },
    /// A named remote is not configured (or no remote is, and none was named).
    #[error("{}", match name { Some(n) => format!("no remote named `{n}` (see `dvx remote list`)"), None => "no remote configured: add one with `dvx remote add origin <folder or s3://bucket/prefix>`".to_string() })]
    NoSuchRemote {
        /// The name asked for; `None` when no name was given and no default is set.
        name: Option<String>,
    },
    /// A remote URL given on the command line is not understood.
    #[error(transparent)]
    BadRemoteUrl(dvx_remote::Error),
    /// A config file on disk is invalid or of an unsupported format.
    #[error("invalid {}: {detail}", qp(path))]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// A remote could not be set up from its settings.
    #[error(transparent)]
    RemoteSetup(dvx_remote::Error),
    /// A committed setting that only this machine may choose must be approved first.
    #[error("remote {remote}: the committed .dvx/config.toml sets {}, which dvx takes only from this machine's settings, so that a commit cannot choose where your credentials are sent; nothing was sent. If you trust it, approve it once on this machine:\n{}", .keys.join(" and "), .commands.join("\n"))]
    NotApproved {
        /// The remote.
        remote: String,
        /// The committed keys.
        keys: Vec<String>,
        /// The commands that approve them.
        commands: Vec<String>,
    },
    /// Another dvx holds a lock this command needs.
    #[error("{what} (lock {}){}", qp(path), holder.as_ref().map(|h| format!(", held by pid {h}")).unwrap_or_default())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What is running and what to do.
        what: String,
        /// The holder's pid as recorded, if known.
        holder: Option<String>,
    },
    /// gc stopped because it could not prove an object unused; nothing was deleted.
    #[error("{0}")]
    GcStopped(String),
    /// A value could not be encoded (a bug: every value dvx writes is encodable).
    #[error("cannot encode {what}: {detail}")]
    Encode {
        /// What was being written.
        what: String,
        /// The encoder's message.
        detail: String,
    },
    /// The path names no dataset.
    #[error("{path} is not a dataset: no pointer file {pointer} {place}")]
    NotADataset {
        /// The path.
        path: String,
        /// The pointer looked for.
        pointer: String,
        /// "in the worktree" or "at <rev>".
        place: String,
    },
    /// Files in the way of a checkout hold content the store does not have.
    #[error("checkout would overwrite or remove {} whose content is not saved in the store:\n{}\nsave them with `dvx add` (or copy them elsewhere), or rerun with --force to discard them", crate::names::count(.files.len(), "file"), list(.files))]
    Unsaved {
        /// The files, repo-relative.
        files: Vec<String>,
    },
    /// Some files could not be restored.
    #[error("{} could not be restored; they were left untouched:\n{}", crate::names::count(.failures.len(), "file"), .failures.iter().map(|(f, e)| format!("  {}: {e}", crate::names::quote(f))).collect::<Vec<_>>().join("\n"))]
    RestoreFailed {
        /// (file, reason) pairs.
        failures: Vec<(String, String)>,
    },
    /// A dataset's tree is not in the local store.
    #[error("dataset {path} version {id} is not in the local store: run `dvx pull` to fetch it, or `dvx add` it again on the machine that has the data")]
    MissingVersion {
        /// Dataset path.
        path: String,
        /// Root tree id.
        id: dvx_store::TreeId,
    },
    /// Restored bytes do not match the digest the tree records.
    #[error("{}: restored content does not match its recorded digest {expected}: the dataset's tree or chunks are corrupt; run `dvx fsck`", crate::names::quote(file))]
    DigestMismatch {
        /// The dataset file.
        file: String,
        /// The digest the tree records.
        expected: dvx_store::Digest,
    },
    /// A directory on the way to a dataset is a symlink or a file.
    #[error("{} is not a real directory (a symlink or a file): dvx never writes through links; replace it with a directory", qp(path))]
    UnsafeParent {
        /// The offending path.
        path: PathBuf,
    },
    /// A remote call failed.
    #[error("remote {remote}: {source}")]
    Remote {
        /// Remote name and URL.
        remote: String,
        /// What failed.
        #[source]
        source: dvx_store::BackendError,
    },
    /// An object the data needs is missing or damaged on the remote.
    #[error("remote {remote}: object {object} {problem}; it is needed by {}:\n{}\npush it again from a machine that has the data", .files.len(), list(.files))]
    RemoteObject {
        /// Remote name and URL.
        remote: String,
        /// The object (pack, chunk or tree id).
        object: String,
        /// True when the object is not there (else it is there but damaged).
        missing: bool,
        /// "is missing ..." or "is corrupt (...)".
        problem: String,
        /// Dataset files affected.
        files: Vec<String>,
    },
    /// A file that the dataset names is damaged in the store.
    #[error("{}: {source}", crate::names::quote(file))]
    DamagedFile {
        /// The dataset file affected.
        file: String,
        /// What is wrong with which object.
        #[source]
        source: dvx_store::Error,
    },
    /// Something that is not a `want` stands where the version needs one, and checkout may
    /// not remove it.
    #[error("{} is in the way: the version has a {want} there; move it away (or rerun with --force if it is a tracked file whose content you do not need)", qp(path))]
    InTheWay {
        /// The path.
        path: PathBuf,
        /// What the version has there: "file", "directory" or "symlink".
        want: &'static str,
    },
    /// A folder the version replaces by a file or link holds files dvx does not track
    /// (ignored by .dvxignore, or not dvx's): checkout never removes those, with or without
    /// --force, so it stops before changing anything.
    #[error("{} must become a {want} in this version, but the folder holds {} dvx does not track (ignored by .dvxignore):\n{}\nmove them out of the folder, then rerun; nothing was changed", crate::names::quote(path), crate::names::count(.files.len(), "file"), list(.files))]
    IgnoredInTheWay {
        /// The folder.
        path: String,
        /// What the version has there.
        want: &'static str,
        /// The untracked files in it, repo-relative.
        files: Vec<String>,
    },
    /// `dvx add` found an entry that readers would refuse; nothing was stored for it.
    #[error("{path}: {problem}; nothing was added: {advice}")]
    OverLimit {
        /// Repo-relative path of the entry (or the dataset).
        path: String,
        /// What is too large or invalid, with the limit.
        problem: String,
        /// What to do.
        advice: String,
    },
    /// A folder being added holds another dataset's pointer.
    #[error("{outer} contains the dataset {inner} (its pointer {pointer}): a dataset cannot hold another, whose data would be stored twice; add the folders beside {inner} one by one, or stop tracking {inner} first (`git rm {pointer}`) and rerun `dvx add {outer}`")]
    NestedDataset {
        /// The dataset being added.
        outer: String,
        /// The dataset inside it.
        inner: String,
        /// The inner dataset's pointer file.
        pointer: String,
    },
    /// Two pointers track overlapping paths (one dataset inside the other).
    #[error("{outer_pointer} and {inner_pointer} {place} track overlapping paths ({inner} is inside {outer}): dvx will not apply either; keep one of them (`git rm` the other) and commit")]
    OverlappingDatasets {
        /// The outer dataset.
        outer: String,
        /// Its pointer file.
        outer_pointer: String,
        /// The dataset inside it.
        inner: String,
        /// Its pointer file.
        inner_pointer: String,
        /// "in the worktree" or "at <rev>".
        place: String,
    },
    /// A path argument names nothing any dataset holds.
    #[error("no dataset holds path {path} {place}{hint}")]
    NoSuchPath {
        /// The path as resolved, repo-relative.
        path: String,
        /// "in the worktree" or "at revision <rev>".
        place: String,
        /// What to run to see what is there.
        hint: String,
    },
    /// The data on disk is not the version its pointer records.
    #[error("{path}: the data on disk is not the version its pointer {pointer} records ({recorded}): it is {on_disk}; `dvx status {path}` shows what differs. `dvx id --pointer {path}` prints the recorded id, `dvx id --worktree {path}` the id of what is on disk (saved in the store only by `dvx add`)")]
    DataDiffers {
        /// Dataset path.
        path: String,
        /// Its pointer file.
        pointer: String,
        /// The id the pointer records.
        recorded: dvx_store::TreeId,
        /// The id of the data on disk.
        on_disk: dvx_store::TreeId,
    },
}

fn list(files: &[String]) -> String {
    let mut s: Vec<String> = files
        .iter()
        .take(50)
        .map(|f| format!("  {}", crate::names::quote(f)))
        .collect();
    if files.len() > 50 {
        s.push(format!("  ... and {} more", files.len() - 50));
    }
    s.join("\n")
}

/// A path as messages print it: quoted if its name could forge lines or drive the terminal.
fn qp(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    crate::names::quote(&crate::names::rel_string(path.as_os_str().as_bytes())).into_owned()
}

impl Error {
    /// Wraps an I/O error with operation and path (a full disk, as [`dvx_store::is_disk_full`]
    /// tells, becomes [`Error::DiskFull`]).
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        if dvx_store::is_disk_full(&source) {
            return Error::DiskFull { path };
        }
        Error::Io { op, path, source }
    }

    /// What kind of failure this is: what a caller acts on.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Error::Store(e) => store_kind(e),
            Error::Manifest(e) => match e {
                dvx_manifest::Error::BadTree(_) => K::CorruptObject,
                dvx_manifest::Error::BadName { .. } => K::InvalidName,
                dvx_manifest::Error::BadPointer { .. } => K::InvalidPointer,
                dvx_manifest::Error::PointerTooLarge { .. } => K::TooLarge,
            },
            Error::Git(e) => git_kind(e),
            Error::Io { .. } => K::Io,
            Error::DiskFull { .. } => K::DiskFull,
            Error::NotInitialized { .. } => K::NotInitialized,
            Error::OutsideRepo { .. } => K::OutsideRepository,
            Error::InvalidArgument { .. } | Error::BadRemoteUrl(_) => K::InvalidArgument,
            Error::NoSuchFile { .. } | Error::NoSuchPath { .. } => K::NoSuchPath,
            Error::NotADataset { .. } => K::NoSuchDataset,
            Error::NotARegularFile { .. } => K::NotARegularFile,
            Error::NoSuchRemote { .. } => K::NoSuchRemote,
            Error::InvalidConfig { .. } | Error::RemoteSetup(_) => K::InvalidConfig,
            Error::NotApproved { .. } => K::NotApproved,
            Error::Locked { .. } => K::Busy,
            Error::GcStopped(_) => K::GcStopped,
            Error::Encode { .. } => K::Internal,
            Error::Unsaved { .. } => K::UnsavedChanges,
            Error::DataDiffers { .. } => K::DataDiffers,
            Error::RestoreFailed { .. } => K::RestoreFailed,
            Error::MissingVersion { .. } => K::MissingObject,
            Error::DigestMismatch { .. } => K::CorruptObject,
            Error::UnsafeParent { .. } | Error::InTheWay { .. } | Error::IgnoredInTheWay { .. } => {
                K::InTheWay
            }
            Error::Remote { source, .. } => backend_kind(source),
            Error::RemoteObject { missing: true, .. } => K::MissingObject,
            Error::RemoteObject { missing: false, .. } => K::CorruptObject,
            Error::DamagedFile { source, .. } => store_kind(source),
            Error::OverLimit { .. } => K::TooLarge,
            Error::NestedDataset { .. } | Error::OverlappingDatasets { .. } => {
                K::OverlappingDatasets
            }
        }
    }

    /// True for errors caused by the command line or call (exit code 2).
    pub fn is_usage(&self) -> bool {
        self.kind().is_usage()
    }
}

/// The kind of an [`Error`]: a flat list a caller can match without knowing which layer
/// failed. The CLI's exit code follows it ([`ErrorKind::exit_code`]); the Python module maps
/// each kind to an exception class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not inside a git repository with a working tree.
    NotARepository,
    /// `dvx init` was never run here.
    NotInitialized,
    /// A path argument lies outside the repository.
    OutsideRepository,
    /// The path names no dataset (no pointer file).
    NoSuchDataset,
    /// The path names nothing on disk or in the dataset.
    NoSuchPath,
    /// The revision names no commit.
    UnknownRevision,
    /// No remote of that name (or none configured).
    NoSuchRemote,
    /// Another argument is invalid.
    InvalidArgument,
    /// Work on disk is not saved in the store; the command would lose it.
    UnsavedChanges,
    /// The data on disk is not the version its pointer records.
    DataDiffers,
    /// Something on disk stands where the version needs something else.
    InTheWay,
    /// An entry is a FIFO, socket, device or link where a regular file must be.
    NotARegularFile,
    /// An input is over one of dvx's limits.
    TooLarge,
    /// An entry name cannot be stored or restored safely.
    InvalidName,
    /// A pointer file cannot be parsed.
    InvalidPointer,
    /// Two datasets overlap (one inside the other).
    OverlappingDatasets,
    /// Stored bytes do not match their id, or an object cannot be decoded.
    CorruptObject,
    /// An object the data needs is not in the store or on the remote.
    MissingObject,
    /// Some files could not be restored; each has its own reason.
    RestoreFailed,
    /// A config file is invalid.
    InvalidConfig,
    /// A committed setting needs this machine's approval.
    NotApproved,
    /// Another dvx (or git) holds a lock.
    Busy,
    /// gc could not prove objects unused, so it deleted nothing.
    GcStopped,
    /// The remote cannot be reached (network, timeout, unmounted folder).
    RemoteUnreachable,
    /// The remote refused the credentials or the request.
    RemoteDenied,
    /// The remote (bucket or folder) does not exist.
    RemoteNotFound,
    /// Another remote failure.
    RemoteFailed,
    /// The disk is full.
    DiskFull,
    /// Another file-system error.
    Io,
    /// git failed.
    Git,
    /// A bug in dvx.
    Internal,
}

impl ErrorKind {
    /// True for kinds caused by how dvx was called.
    pub fn is_usage(self) -> bool {
        use ErrorKind as K;
        matches!(
            self,
            K::NotARepository
                | K::NotInitialized
                | K::OutsideRepository
                | K::NoSuchDataset
                | K::NoSuchPath
                | K::UnknownRevision
                | K::NoSuchRemote
                | K::InvalidArgument
        )
    }

    /// The CLI's exit code: 2 for a usage error, 1 for a failure of the data, the disk or
    /// the remote.
    pub fn exit_code(self) -> i32 {
        if self.is_usage() {
            2
        } else {
            1
        }
    }

    /// A stable snake_case name for machine-readable output.
    pub fn name(self) -> &'static str {
        use ErrorKind as K;
        match self {
            K::NotARepository => "not_a_repository",
            K::NotInitialized => "not_initialized",
            K::OutsideRepository => "outside_repository",
            K::NoSuchDataset => "no_such_dataset",
            K::NoSuchPath => "no_such_path",
            K::UnknownRevision => "unknown_revision",
            K::NoSuchRemote => "no_such_remote",
            K::InvalidArgument => "invalid_argument",
            K::UnsavedChanges => "unsaved_changes",
            K::DataDiffers => "data_differs",
            K::InTheWay => "in_the_way",
            K::NotARegularFile => "not_a_regular_file",
            K::TooLarge => "too_large",
            K::InvalidName => "invalid_name",
            K::InvalidPointer => "invalid_pointer",
            K::OverlappingDatasets => "overlapping_datasets",
            K::CorruptObject => "corrupt_object",
            K::MissingObject => "missing_object",
            K::RestoreFailed => "restore_failed",
            K::InvalidConfig => "invalid_config",
            K::NotApproved => "not_approved",
            K::Busy => "busy",
            K::GcStopped => "gc_stopped",
            K::RemoteUnreachable => "remote_unreachable",
            K::RemoteDenied => "remote_denied",
            K::RemoteNotFound => "remote_not_found",
            K::RemoteFailed => "remote_failed",
            K::DiskFull => "disk_full",
            K::Io => "io",
            K::Git => "git",
            K::Internal => "internal",
        }
    }

    /// Every kind, in declaration order (for docs and bindings).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::NotARepository,
        ErrorKind::NotInitialized,
        ErrorKind::OutsideRepository,
        ErrorKind::NoSuchDataset,
        ErrorKind::NoSuchPath,
        ErrorKind::UnknownRevision,
        ErrorKind::NoSuchRemote,
        ErrorKind::InvalidArgument,
        ErrorKind::UnsavedChanges,
        ErrorKind::DataDiffers,
        ErrorKind::InTheWay,
        ErrorKind::NotARegularFile,
        ErrorKind::TooLarge,
        ErrorKind::InvalidName,
        ErrorKind::InvalidPointer,
        ErrorKind::OverlappingDatasets,
        ErrorKind::CorruptObject,
        ErrorKind::MissingObject,
        ErrorKind::RestoreFailed,
        ErrorKind::InvalidConfig,
        ErrorKind::NotApproved,
        ErrorKind::Busy,
        ErrorKind::GcStopped,
        ErrorKind::RemoteUnreachable,
        ErrorKind::RemoteDenied,
        ErrorKind::RemoteNotFound,
        ErrorKind::RemoteFailed,
        ErrorKind::DiskFull,
        ErrorKind::Io,
        ErrorKind::Git,
        ErrorKind::Internal,
    ];
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn store_kind(e: &dvx_store::Error) -> ErrorKind {
    use dvx_store::Error as S;
    use ErrorKind as K;
    match e {
        S::Io { .. } => K::Io,
        S::DiskFull { .. } => K::DiskFull,
        S::CorruptChunk { .. }
        | S::CorruptPack { .. }
        | S::CorruptIndex { .. }
        | S::CorruptTree { .. } => K::CorruptObject,
        S::MissingChunk(_) | S::MissingTree(_) => K::MissingObject,
        S::BadConfig { .. } => K::InvalidConfig,
        S::BadId(_) => K::InvalidArgument,
    }
}

fn git_kind(e: &dvx_git::Error) -> ErrorKind {
    use dvx_git::Error as G;
    use ErrorKind as K;
    match e {
        G::NotARepo { .. } | G::BareRepo { .. } => K::NotARepository,
        G::UnknownRevision { .. } | G::NotACommit { .. } => K::UnknownRevision,
        G::PathOutsideRepo { .. } => K::OutsideRepository,
        G::IndexLocked { .. } => K::Busy,
        G::Io { source, .. } if dvx_store::is_disk_full(source) => K::DiskFull,
        G::Io { .. } => K::Io,
        _ => K::Git,
    }
}

fn backend_kind(e: &dvx_store::BackendError) -> ErrorKind {
    use dvx_store::BackendError as B;
    use ErrorKind as K;
    match e {
        B::NotFound { .. } => K::MissingObject,
        B::Transient { .. } => K::RemoteUnreachable,
        B::Denied { .. } => K::RemoteDenied,
        B::NoRemote { .. } => K::RemoteNotFound,
        B::Permanent { .. } => K::RemoteFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_and_exit_codes_split_usage_from_failures() {
        let names: std::collections::HashSet<&str> =
            ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            assert_eq!(k.exit_code(), if k.is_usage() { 2 } else { 1 }, "{k}");
        }
    }

    #[test]
    fn wrapped_errors_keep_their_kind() {
        let full = Error::io(
            "write",
            "/x",
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(full.kind(), ErrorKind::DiskFull);
        let rev = Error::Git(dvx_git::Error::UnknownRevision { rev: "nope".into() });
        assert_eq!(rev.kind(), ErrorKind::UnknownRevision);
        assert_eq!(rev.kind().exit_code(), 2);
        let missing = Error::Store(dvx_store::Error::MissingTree(dvx_store::TreeId::of(b"")));
        assert_eq!(missing.kind(), ErrorKind::MissingObject);
        let denied = Error::Remote {
            remote: "origin".into(),
            source: dvx_store::BackendError::Denied {
                key: String::new(),
                message: "access denied".into(),
            },
        };
        assert_eq!(denied.kind(), ErrorKind::RemoteDenied);
        assert_eq!(denied.kind().exit_code(), 1);
        let locked = Error::Locked {
            path: "/r/.dvx/gc.lock".into(),
            what: "another dvx gc is running".into(),
            holder: Some("42".into()),
        };
        assert_eq!(locked.kind(), ErrorKind::Busy);
        assert!(locked.to_string().contains("held by pid 42"), "{locked}");
    }
}
