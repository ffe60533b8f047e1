//! The error type of dvx-core: each variant says what happened, where, and what to do;
//! [`ErrorKind`] (in `kind.rs`) is what a caller matches.

use std::path::PathBuf;

mod kind;

pub use kind::ErrorKind;

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
    /// A push or `gc --remote` changed the remote but could not append its record to the
    /// remote's audit trail. What it moved stays (nothing is lost); the command fails so that
    /// no change to a remote passes unrecorded.
    #[error("remote {remote}: the {operation} completed, but its record could not be written to the remote's audit trail (audit/): {source}; nothing was lost. Give these credentials write access to audit/ and rerun `dvx {operation}`, which records it")]
    AuditNotRecorded {
        /// Remote name and URL.
        remote: String,
        /// "push" or "gc".
        operation: &'static str,
        /// Why the write failed.
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
    /// The file or folder a command would create already exists.
    #[error(
        "{} already exists: {what} never overwrites; choose another name with -o, or move it away",
        qp(path)
    )]
    TargetExists {
        /// The path.
        path: PathBuf,
        /// The command ("dvx get", "dvx import").
        what: &'static str,
    },
    /// An encrypted remote was used without a passphrase (none of the sources gave one).
    #[error("remote {remote} is encrypted: {message}")]
    PassphraseRequired {
        /// Remote name and URL.
        remote: String,
        /// Which source failed or what to set.
        message: String,
    },
    /// No key object of an encrypted remote opens with the passphrase given.
    #[error("remote {remote}: cannot open its key: {detail}")]
    WrongPassphrase {
        /// Remote name and URL.
        remote: String,
        /// Which key objects were tried and what may be wrong.
        detail: String,
    },
    /// The remote's encryption does not allow the operation (a plaintext push to an
    /// encrypted remote, removing its last key, ...).
    #[error("remote {remote}: {message}")]
    Encryption {
        /// Remote name and URL.
        remote: String,
        /// What is refused and what to do.
        message: String,
    },
    /// A source repository names no remote, and its store cannot be read from here.
    #[error("source {url} at commit {commit} has no default remote in its .dvx/config.toml{local}: pass the remote that holds its data with --remote-url <folder or s3://bucket/prefix>")]
    SourceWithoutRemote {
        /// The source.
        url: String,
        /// The commit read.
        commit: String,
        /// Why its own store was not used either.
        local: String,
    },
    /// A pointer staged in the git index cannot be read, so what it keeps is unknown.
    #[error("malformed pointer file {q} as staged in the git index: {}; dvx cannot tell which data it keeps. Stage a good one (`git add {q}`) or unstage it (`git restore --staged {q}`)", crate::names::quote(detail), q = crate::names::quote(file))]
    BadStagedPointer {
        /// The pointer file (repo-relative).
        file: String,
        /// What is wrong.
        detail: String,
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
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    // Only for a message: a name that is not Unicode shows with replacement characters.
    #[cfg(not(unix))]
    let lossy = path.to_string_lossy();
    #[cfg(not(unix))]
    let bytes = lossy.as_bytes();
    crate::names::quote(&crate::names::rel_string(bytes)).into_owned()
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
}
