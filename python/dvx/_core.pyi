"""The native half of the `dvx` module (Rust, PyO3, crates/dvx-py): the command line as a
function, and dvx-core's read and write operations. Every call releases the GIL while Rust
works; a failure raises the `dvx.Error` subclass of its kind with the command line's message.

Not the public API: `dvx` (python/dvx, docs/python.md) wraps these calls and turns their dicts
into `dvx.Version` and the reports (listings come as `dvx.Entry` already).
"""

import os
import pathlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._types import Entry

_PathLike = Union[str, "os.PathLike[str]"]

def main(argv: Sequence[str]) -> int:
    """Runs the `dvx` command line with `argv` (without the program name) in this process,
    and returns its exit status (0 ok, 1 failure, 2 usage error): the `dvx` command of the
    wheel (`dvx._cli.main`). Writes to the process's stdout and stderr directly."""

def version() -> str:
    """The version of dvx, as `dvx --version` prints it after the name."""

def _register_errors(base: type, kinds: Mapping[str, type]) -> None:
    """Called once by `dvx/__init__.py`: the base exception class and the class of each error
    kind, which every failed call raises."""

class Repo:
    """A repository opened for reading and, when local, for the operations of the command
    line. Safe to share between threads."""

    def __init__(
        self,
        spec: Optional[str],
        base: Optional[_PathLike],
        remote: Optional[str] = None,
        remote_url: Optional[str] = None,
        offline: bool = False,
        cache_dir: Optional[_PathLike] = None,
    ) -> None:
        """Opens `spec`: a path, a git URL (read through the source cache of `dvx get`), or
        None for the repository around `base`. Relative paths are taken from `base`."""

    @property
    def root(self) -> Optional[pathlib.Path]:
        """The worktree's root (None for a repository read by URL)."""

    @property
    def url(self) -> str:
        """Where the repository is: its `origin` URL, else its path; a source's URL."""

    def resolve(self, rev: str) -> str:
        """The full commit id `rev` names now."""

    def open(self, path: str, rev: Optional[str] = None) -> "File":
        """A reader of `path` at `rev` (None: the worktree's pointers)."""

    def read(self, path: str, rev: Optional[str] = None) -> bytes:
        """The bytes of `path` at `rev`."""

    def ls(
        self, path: Optional[str] = None, rev: Optional[str] = None, recursive: bool = True
    ) -> List[Entry]:
        """The entries of `path` at `rev`, as `dvx.Entry` tuples (path, size, digest, kind,
        executable, target)."""

    def info(self, path: str, rev: Optional[str] = None) -> Entry:
        """The entry of one path at `rev`, a `dvx.Entry`."""

    def get(
        self, path: str, rev: Optional[str] = None, out: Optional[_PathLike] = None
    ) -> pathlib.Path:
        """Writes `path` at `rev` to `out`, or to a copy under the user cache (reused across
        calls); returns its path."""

    def id(self, path: str, rev: Optional[str] = None) -> str:
        """The version id of the dataset holding `path` at `rev`."""

    def log(self, path: Optional[str] = None) -> List[Dict[str, Any]]:
        """The versions of a dataset (or of every dataset), newest first: dicts with path,
        commit, date (RFC 3339), id, files, bytes, message, meta."""

    def dataset(self, path: str, rev: Optional[str] = None) -> Dict[str, Any]:
        """Where the version of the dataset holding `path` at `rev` comes from: repo, commit,
        path, id, files, bytes, remote."""

    def add(
        self,
        paths: Sequence[_PathLike],
        message: Optional[str] = None,
        meta: Optional[Mapping[str, str]] = None,
    ) -> List[Dict[str, Any]]:
        """`dvx add`: saves new versions of the datasets at `paths`; one dict per dataset
        (path, id, previous, files, bytes)."""

    def status(self, paths: Sequence[_PathLike] = ...) -> List[Dict[str, Any]]:
        """`dvx status` of `paths` (empty: every dataset); one dict per dataset (path,
        pointer, id, state, added, modified, deleted)."""

    def checkout(
        self,
        rev: Optional[str] = None,
        paths: Sequence[_PathLike] = ...,
        force: bool = False,
    ) -> List[Dict[str, Any]]:
        """`dvx checkout [rev] [paths]`; one dict per dataset (path, id, written,
        bytes_written, removed, unchanged)."""

    def push(
        self,
        revs: Sequence[str] = ...,
        all_revs: bool = False,
        remote: Optional[str] = None,
    ) -> Dict[str, Any]:
        """`dvx push`: the transfer report (remote, datasets, files, bytes, transferred,
        objects, requests, chunks, seconds, ...)."""

    def fetch(
        self,
        revs: Sequence[str] = ...,
        paths: Sequence[_PathLike] = ...,
        remote: Optional[str] = None,
    ) -> Dict[str, Any]:
        """`dvx fetch`: the transfer report."""

    def pull(
        self,
        rev: Optional[str] = None,
        paths: Sequence[_PathLike] = ...,
        remote: Optional[str] = None,
        force: bool = False,
    ) -> Dict[str, Any]:
        """`dvx pull`: the transfer report, with the checkout's datasets under "checkout"."""

class File:
    """One file of one version, read at any offset without the GIL."""

    @property
    def size(self) -> int:
        """Bytes in the file."""

    @property
    def digest(self) -> str:
        """BLAKE3 hex of the whole file."""

    @property
    def path(self) -> str:
        """The file's path in the repository."""

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes at `offset` (fewer only at the end of the file)."""
