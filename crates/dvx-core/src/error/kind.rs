//! [`ErrorKind`]: the flat list of error kinds, and how each error of every layer maps to one.

use super::Error;

impl Error {
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
            Error::TargetExists { .. } => K::AlreadyExists,
            Error::SourceWithoutRemote { .. } => K::SourceWithoutRemote,
            Error::AuditNotRecorded { .. } => K::AuditNotRecorded,
            Error::PassphraseRequired { .. } => K::PassphraseRequired,
            Error::WrongPassphrase { .. } => K::WrongPassphrase,
            Error::Encryption { .. } => K::Encryption,
            Error::BadStagedPointer { .. } => K::InvalidPointer,
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
    /// A source repository (`get`, `import`) cannot be found.
    UnknownSource,
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
    /// The remote can only be read (a web server) and the command writes to it.
    RemoteReadOnly,
    /// Another remote failure.
    RemoteFailed,
    /// The disk is full.
    DiskFull,
    /// Another file-system error.
    Io,
    /// git failed.
    Git,
    /// The file or folder a command would create already exists.
    AlreadyExists,
    /// A source repository has no remote to read its data from.
    SourceWithoutRemote,
    /// `--offline`, and the source cache lacks what is needed.
    NotCached,
    /// A push or `gc --remote` worked, but its audit record could not be written.
    AuditNotRecorded,
    /// An encrypted remote needs a passphrase and none was given.
    PassphraseRequired,
    /// The passphrase opens none of an encrypted remote's keys.
    WrongPassphrase,
    /// The remote's encryption does not allow the operation.
    Encryption,
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
                | K::RemoteReadOnly
                | K::UnknownSource
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
            K::RemoteReadOnly => "remote_read_only",
            K::RemoteFailed => "remote_failed",
            K::DiskFull => "disk_full",
            K::Io => "io",
            K::Git => "git",
            K::UnknownSource => "unknown_source",
            K::AlreadyExists => "already_exists",
            K::SourceWithoutRemote => "source_without_remote",
            K::NotCached => "not_cached",
            K::AuditNotRecorded => "audit_not_recorded",
            K::PassphraseRequired => "passphrase_required",
            K::WrongPassphrase => "wrong_passphrase",
            K::Encryption => "encryption",
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
        ErrorKind::UnknownSource,
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
        ErrorKind::RemoteReadOnly,
        ErrorKind::RemoteFailed,
        ErrorKind::DiskFull,
        ErrorKind::Io,
        ErrorKind::Git,
        ErrorKind::AlreadyExists,
        ErrorKind::SourceWithoutRemote,
        ErrorKind::NotCached,
        ErrorKind::AuditNotRecorded,
        ErrorKind::PassphraseRequired,
        ErrorKind::WrongPassphrase,
        ErrorKind::Encryption,
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
        G::UnknownSource { .. } => K::UnknownSource,
        G::SourceRevision { .. } => K::UnknownRevision,
        G::SourceFetch { .. } => K::RemoteUnreachable,
        G::NotCached { .. } => K::NotCached,
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
        B::ReadOnly { .. } => K::RemoteReadOnly,
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
