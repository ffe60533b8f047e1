"""The exceptions of dvx: one class per kind of failure, each a `dvx.Error` and the built-in
exception that fits, so `except FileNotFoundError` works as it does for `open()`.

Every exception carries `kind`, the error kind of the command line's `--json` output
(`no_such_path`, `unknown_revision`, ...), and the command line's message.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every dvx failure. `kind` names it as `dvx --json` does."""

    kind: str = "internal"

    def __init__(self, message: str = "", kind: str | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class NotFoundError(Error, FileNotFoundError):
    """A path, dataset or repository that is not there (at that revision)."""


class RevisionError(Error, ValueError):
    """A revision git does not know, or a source that is not a repository."""


class InvalidArgumentError(Error, ValueError):
    """A bad argument: an unusable path, name, URL or option."""


class NotARegularFileError(Error, IsADirectoryError):
    """A folder or a link where a file was asked for."""


class AlreadyExistsError(Error, FileExistsError):
    """The target exists already and dvx does not overwrite it."""


class UnsavedChangesError(Error):
    """The operation would overwrite or lose data that no version holds."""


class CorruptDataError(Error, OSError):
    """Stored or received bytes fail their checksum, or an object cannot be decoded."""


class MissingDataError(Error, OSError):
    """A version, object or chunk that neither the store nor the remote holds."""


class RemoteError(Error, OSError):
    """A remote that cannot be reached, refuses the credentials, or fails."""


class BusyError(Error, TimeoutError):
    """Another dvx holds the lock for too long."""


class ConfigError(Error, ValueError):
    """A configuration file or remote setting that cannot be used."""


class PassphraseError(Error, PermissionError):
    """An encrypted remote needs a passphrase, or the one given opens none of its keys."""


class StorageError(Error, OSError):
    """A local file operation failed (disk full, permissions, I/O error)."""


#: The class raised for each error kind; a kind not listed raises `Error`.
KINDS: dict[str, type[Error]] = {
    "no_such_path": NotFoundError,
    "no_such_dataset": NotFoundError,
    "not_a_repository": NotFoundError,
    "not_initialized": NotFoundError,
    "outside_repository": InvalidArgumentError,
    "unknown_revision": RevisionError,
    "unknown_source": RevisionError,
    "not_cached": RevisionError,
    "audit_not_recorded": RemoteError,
    "invalid_argument": InvalidArgumentError,
    "invalid_name": InvalidArgumentError,
    "invalid_pointer": CorruptDataError,
    "too_large": InvalidArgumentError,
    "overlapping_datasets": InvalidArgumentError,
    "no_such_remote": ConfigError,
    "invalid_config": ConfigError,
    "not_approved": ConfigError,
    "encryption": ConfigError,
    "passphrase_required": PassphraseError,
    "wrong_passphrase": PassphraseError,
    "not_a_regular_file": NotARegularFileError,
    "already_exists": AlreadyExistsError,
    "unsaved_changes": UnsavedChangesError,
    "data_differs": UnsavedChangesError,
    "in_the_way": UnsavedChangesError,
    "restore_failed": StorageError,
    "corrupt_object": CorruptDataError,
    "missing_object": MissingDataError,
    "source_without_remote": MissingDataError,
    "remote_unreachable": RemoteError,
    "remote_denied": RemoteError,
    "remote_not_found": RemoteError,
    "remote_read_only": RemoteError,
    "remote_failed": RemoteError,
    "busy": BusyError,
    "gc_stopped": Error,
    "disk_full": StorageError,
    "io": StorageError,
    "git": Error,
    "internal": Error,
}
