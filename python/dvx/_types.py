"""The values dvx returns: entries of a listing, versions of a log, and the reports of the
operations that change a repository. Plain frozen dataclasses: they compare, print and pickle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Entry:
    """One entry of `dvx.ls`: as `dvx ls --json` prints it."""

    path: str
    size: int
    #: BLAKE3 hex of a file's bytes (what `b3sum` prints), a folder's tree id, None for a link.
    digest: Optional[str]
    #: "file", "dir" or "symlink".
    kind: str
    executable: bool = False
    #: A link's target.
    target: Optional[str] = None


@dataclass(frozen=True)
class Version:
    """One version of a dataset in `dvx.log`, newest first."""

    path: str
    commit: str
    #: Commit date, RFC 3339.
    date: str
    #: The version id (None where the commit removed the dataset).
    id: Optional[str]
    files: int
    bytes: int
    message: Optional[str]
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    """Where one version of a dataset comes from: what lineage records (`dvx.dataset`)."""

    #: The repository: its `origin` URL when it has one, else its path (or the source URL).
    repo: str
    #: The commit the version was read at (None: the worktree's pointer, not yet committed).
    commit: Optional[str]
    #: The dataset's path in the repository.
    path: str
    #: The version id.
    id: str
    files: int
    bytes: int
    #: The URL of the dvx remote that holds the data (None when the repository has none).
    remote: Optional[str]
    #: The revision as given.
    rev: Optional[str] = None


@dataclass(frozen=True)
class DatasetAdded:
    path: str
    id: str
    previous: Optional[str]
    files: int
    bytes: int


@dataclass(frozen=True)
class AddReport:
    datasets: list


@dataclass(frozen=True)
class DatasetStatus:
    path: str
    pointer: str
    id: str
    #: "clean", "modified", "missing" or "not_in_store".
    state: str
    added: list
    modified: list
    deleted: list


@dataclass(frozen=True)
class StatusReport:
    datasets: list

    @property
    def clean(self) -> bool:
        return all(d.state == "clean" for d in self.datasets)


@dataclass(frozen=True)
class DatasetCheckout:
    path: str
    id: str
    written: int
    bytes_written: int
    removed: int
    unchanged: int


@dataclass(frozen=True)
class CheckoutReport:
    datasets: list


@dataclass(frozen=True)
class TransferReport:
    remote: str
    datasets: int
    files: int
    bytes: int
    #: Bytes sent or received.
    transferred: int
    objects: int
    requests: int
    chunks: int
    seconds: float
    checkout: Optional[CheckoutReport] = None
    #: Imported datasets pull fetched from their source instead of the remote.
    fallbacks: list = field(default_factory=list)
