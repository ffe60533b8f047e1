"""`dvx.Repo` and the module-level calls: every call reads through a native repository
handle (`dvx._core.Repo`), opened once per repository and process."""

from __future__ import annotations

import os
import _thread

from . import _core, _io
from ._errors import NotFoundError
from ._types import (
    AddReport,
    CheckoutReport,
    DatasetAdded,
    DatasetCheckout,
    DatasetInfo,
    DatasetStatus,
    Entry,
    StatusReport,
    TransferReport,
    Version,
)

# Listings are built as `Entry` tuples in Rust (no dict per entry).
_core._register_types(Entry)

# Annotations only (never evaluated): importing typing would cost every first call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import pathlib
    from typing import Iterable, Optional, Union

    PathLike = Union[str, "os.PathLike[str]"]


def _is_url(repo: str) -> bool:
    return "://" in repo or (":" in repo and "@" in repo.split(":", 1)[0])


class Repo:
    """A repository, opened once: a local dvx repository (a path, default: the one around the
    current directory), or a git URL read through the same source cache as `dvx get`.

    Paths given to its methods are relative to the current directory for the repository around
    it, and to the repository's root otherwise. `rev` is anything git accepts (default: the
    worktree's pointers; for a URL, the source's HEAD).
    """

    def __init__(
        self,
        path: Optional[PathLike] = None,
        *,
        remote: Optional[str] = None,
        remote_url: Optional[str] = None,
        offline: bool = False,
        cache_dir: Optional[PathLike] = None,
    ):
        spec = None if path is None else os.fspath(path)
        base = None
        if spec is None:
            base = os.getcwd()
        elif not _is_url(spec):
            spec = os.path.abspath(spec)
            if not os.path.isdir(spec):
                raise NotFoundError(f"{spec}: no such directory", "no_such_path")
        self._args = (
            spec,
            base,
            remote,
            remote_url,
            bool(offline),
            None if cache_dir is None else os.fspath(cache_dir),
        )
        self._pid = os.getpid()
        self._lock = _thread.allocate_lock()
        self._handle = _core.Repo(*self._args)

    # --- pickling and fork: a copy reopens by path (native handles hold files and threads)

    @classmethod
    def _from_state(cls, state) -> "Repo":
        key = ("state", state)
        with _repos_lock:
            repo = _repos.get(key)
            if repo is None or repo._pid != os.getpid():
                repo = cls.__new__(cls)
                repo._args = state
                repo._pid = os.getpid()
                repo._lock = _thread.allocate_lock()
                repo._handle = _core.Repo(*state)
                _repos[key] = repo
        return repo

    def __reduce__(self):
        return (Repo._from_state, (self._args,))

    @property
    def _native(self):
        if self._pid != os.getpid():
            # A forked child: the parent's handle may hold a remote connection whose threads
            # did not survive the fork.
            with self._lock:
                if self._pid != os.getpid():
                    self._handle = _core.Repo(*self._args)
                    self._pid = os.getpid()
        return self._handle

    def __repr__(self) -> str:
        return f"dvx.Repo({self._args[0] or self._args[1]!r})"

    # --- what it is

    @property
    def root(self) -> Optional[pathlib.Path]:
        """The worktree's root (None for a repository read by URL)."""
        return self._native.root

    @property
    def url(self) -> str:
        """Where the repository is: its `origin` URL when it has one, else its path."""
        return self._native.url

    def resolve(self, rev: str) -> str:
        """The full commit id `rev` names now: pass it as `rev=` to pin many reads."""
        return self._native.resolve(rev)

    # --- reading

    def open(
        self,
        path: PathLike,
        rev: Optional[str] = None,
        mode: str = "rb",
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        newline: Optional[str] = None,
    ):
        """A seekable read-only file object of `path` at `rev`; nothing is checked out."""
        p = os.fspath(path)
        commit = None if rev is None else self.resolve(rev)
        native = self._native_file(p, commit)
        return _io.make(native, self._args, p, commit, mode, encoding, errors, newline)

    def _native_file(self, path: str, commit: Optional[str]):
        return self._native.open(path, commit)

    def read_bytes(self, path: PathLike, rev: Optional[str] = None) -> bytes:
        """The bytes of `path` at `rev`."""
        return self._native.read(os.fspath(path), rev)

    def read_text(
        self, path: PathLike, rev: Optional[str] = None, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """The text of `path` at `rev`."""
        return self.read_bytes(path, rev).decode(encoding, errors)

    def ls(
        self, path: Optional[PathLike] = None, rev: Optional[str] = None, recursive: bool = True
    ) -> list:
        """The entries of `path` (a dataset, or a folder or file inside one; default: every
        dataset) at `rev`: `dvx.Entry(path, size, digest, kind, executable, target)`."""
        p = None if path is None else os.fspath(path)
        return self._native.ls(p, rev, recursive)

    def info(self, path: PathLike, rev: Optional[str] = None) -> Entry:
        """The entry of one path (a file, folder or dataset) at `rev`."""
        return self._native.info(os.fspath(path), rev)

    def get(
        self, path: PathLike, rev: Optional[str] = None, out: Optional[PathLike] = None
    ) -> pathlib.Path:
        """A directory or file holding exactly `path` at `rev`. Without `out`, a read-only copy
        under the user cache, reused by later calls for the same version."""
        o = None if out is None else os.fspath(out)
        return self._native.get(os.fspath(path), rev, o)

    def id(self, path: PathLike, rev: Optional[str] = None) -> str:
        """The version id of the dataset at `path` (the one its pointer records)."""
        return self._native.id(os.fspath(path), rev)

    def log(self, path: Optional[PathLike] = None) -> list:
        """The versions of a dataset (or of every dataset), newest first."""
        p = None if path is None else os.fspath(path)
        return [Version(**v) for v in self._native.log(p)]

    def dataset(self, path: PathLike, rev: Optional[str] = None) -> DatasetInfo:
        """Where the version of the dataset holding `path` at `rev` comes from (for lineage)."""
        return DatasetInfo(rev=rev, **self._native.dataset(os.fspath(path), rev))

    # --- changing the repository (local repositories only)

    def add(
        self,
        paths: Union[PathLike, Iterable[PathLike]],
        message: Optional[str] = None,
        meta: Optional[dict] = None,
    ) -> AddReport:
        """Saves new versions of datasets (as `dvx add`): stores them and writes their pointers."""
        r = self._native.add(_paths(paths), message, dict(meta or {}))
        return AddReport([DatasetAdded(**d) for d in r])

    def status(self, paths: Union[PathLike, Iterable[PathLike], None] = None) -> StatusReport:
        """How the data on disk differs from the pointers (as `dvx status`)."""
        r = self._native.status(_paths(paths))
        return StatusReport([DatasetStatus(**d) for d in r])

    def checkout(
        self,
        rev: Optional[str] = None,
        paths: Union[PathLike, Iterable[PathLike], None] = None,
        force: bool = False,
    ) -> CheckoutReport:
        """Makes the data on disk match the pointers at `rev` (as `dvx checkout`); refuses to
        overwrite unsaved changes unless `force`."""
        r = self._native.checkout(rev, _paths(paths), force)
        return CheckoutReport([DatasetCheckout(**d) for d in r])

    def push(
        self,
        revs: Iterable[str] = (),
        remote: Optional[str] = None,
        all_revs: bool = False,
    ) -> TransferReport:
        """Sends the selected versions to the remote (as `dvx push`)."""
        return _transfer(self._native.push(list(revs), all_revs, remote))

    def fetch(
        self,
        revs: Iterable[str] = (),
        paths: Union[PathLike, Iterable[PathLike], None] = None,
        remote: Optional[str] = None,
    ) -> TransferReport:
        """Fills the local store with the selected versions (as `dvx fetch`)."""
        return _transfer(self._native.fetch(list(revs), _paths(paths), remote))

    def pull(
        self,
        rev: Optional[str] = None,
        paths: Union[PathLike, Iterable[PathLike], None] = None,
        remote: Optional[str] = None,
        force: bool = False,
    ) -> TransferReport:
        """Fetches and checks out (as `dvx pull`)."""
        return _transfer(self._native.pull(rev, _paths(paths), remote, force))


def _paths(paths) -> list:
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _transfer(d: dict) -> TransferReport:
    co = d.pop("checkout", None)
    if co is not None:
        co = CheckoutReport([DatasetCheckout(**x) for x in co])
    return TransferReport(checkout=co, **d)


# --- module-level calls: one handle per repository and process

_repos: dict = {}
_repos_lock = _thread.allocate_lock()


def _repo(repo) -> Repo:
    if isinstance(repo, Repo):
        return repo
    if repo is None:
        key = ("cwd", os.getcwd())
    else:
        spec = os.fspath(repo)
        key = ("repo", spec if _is_url(spec) else os.path.abspath(spec))
    with _repos_lock:
        r = _repos.get(key)
        if r is None or r._pid != os.getpid():
            r = Repo(repo)
            _repos[key] = r
    return r


def open(path, rev=None, repo=None, mode="rb", encoding=None, errors=None, newline=None):
    """A seekable read-only file object of `path` at `rev` in `repo`; nothing is checked out."""
    return _repo(repo).open(path, rev, mode, encoding, errors, newline)


def read_bytes(path, rev=None, repo=None) -> bytes:
    """The bytes of `path` at `rev` in `repo`."""
    return _repo(repo).read_bytes(path, rev)


def read_text(path, rev=None, repo=None, encoding="utf-8", errors="strict") -> str:
    """The text of `path` at `rev` in `repo`."""
    return _repo(repo).read_text(path, rev, encoding, errors)


def ls(path=None, rev=None, repo=None, recursive=True) -> list:
    """The entries of `path` at `rev` in `repo`: a list of `dvx.Entry`."""
    return _repo(repo).ls(path, rev, recursive)


def info(path, rev=None, repo=None) -> Entry:
    """The entry of one path at `rev` in `repo`."""
    return _repo(repo).info(path, rev)


def get(path, rev=None, repo=None, out=None) -> pathlib.Path:
    """A directory or file holding exactly `path` at `rev` in `repo`."""
    return _repo(repo).get(path, rev, out)


def id(path, rev=None, repo=None) -> str:  # noqa: A001 - the name the CLI uses
    """The version id of the dataset at `path`."""
    return _repo(repo).id(path, rev)


def log(path=None, repo=None) -> list:
    """The versions of a dataset, newest first: a list of `dvx.Version`."""
    return _repo(repo).log(path)


def dataset(path, rev=None, repo=None) -> DatasetInfo:
    """Where the version of the dataset holding `path` comes from."""
    return _repo(repo).dataset(path, rev)


def resolve(rev, repo=None) -> str:
    """The full commit id `rev` names in `repo` now."""
    return _repo(repo).resolve(rev)
