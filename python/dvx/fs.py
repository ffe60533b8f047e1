"""`dvx://` for fsspec: every tool that reads through fsspec (pandas, pyarrow, polars, dask,
`fsspec.open`) reads any version of a dvx repository, without a checkout.

    pandas.read_csv("dvx://data/train.csv", storage_options={"rev": "v2"})
    fs = fsspec.filesystem("dvx", repo="../registry", rev="v1")
    fs.find("data/images")

The protocol is registered through the `fsspec.specs` entry point: no `import dvx` needed.
Paths are relative to the repository's root. The file system is read-only.

An instance pins its revision to a commit once, when it is created, so every call of one
instance sees the same version even when a branch moves. Listings come from one recursive
listing of the repository at that commit, kept per (repository, commit): `find`, `walk`, `ls`
and `info` of a 20,000-file dataset cost one native call, then dictionary lookups.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from typing import Any, Optional

from fsspec.spec import AbstractFileSystem

from ._errors import Error
from ._repo import Repo, _is_url, _repo

__all__ = ["DvxFileSystem", "ReadOnlyError"]


class ReadOnlyError(Error, PermissionError):
    """A write through `dvx://`: versions are made with `dvx add` (or `dvx.Repo.add`)."""

    kind = "read_only"


# Listings of pinned commits never change: instances share them. A worktree listing (no rev)
# may change with the next `dvx add`, so it stays in its instance.
_LISTINGS: "OrderedDict[tuple, _Listing]" = OrderedDict()
_LISTINGS_MAX = 8
_LISTINGS_LOCK = threading.Lock()

# Repositories opened with remote/offline options (the plain ones share dvx's own handles).
_REPOS: dict = {}
_REPOS_LOCK = threading.Lock()

_TYPES = {"file": "file", "dir": "directory", "symlink": "link"}


def _info(e) -> dict:
    # `e` is a `dvx.Entry`.
    kind = e.kind
    info = {
        "name": e.path,
        "size": e.size,
        "type": _TYPES.get(kind, "other"),
        "digest": e.digest,
        "executable": bool(e.executable),
    }
    if kind == "symlink":
        info["islink"] = True
        info["destination"] = e.target
    return info


def _dir(name: str) -> dict:
    # A folder that holds datasets but is none itself (`datasets` of `datasets/images`).
    return {"name": name, "size": 0, "type": "directory", "digest": None, "executable": False}


def _parent(path: str) -> str:
    i = path.rfind("/")
    return "" if i < 0 else path[:i]


class _Listing:
    """Every entry of every dataset at one commit: by path, the children of each folder, and
    the paths in sorted order (a subtree is one contiguous range of it)."""

    def __init__(self, entries: list):
        infos: dict = {}
        for e in entries:
            infos[e.path] = _info(e)
        children: dict = {"": []}
        linked: set = set()
        for path in list(infos):
            # Climb until a path already linked to its parent: each path is linked once.
            p = path
            while p and p not in linked:
                linked.add(p)
                parent = _parent(p)
                children.setdefault(parent, []).append(p)
                if parent and parent not in infos:
                    infos[parent] = _dir(parent)
                p = parent
        for path, info in infos.items():
            if info["type"] == "directory":
                children.setdefault(path, [])
        for kids in children.values():
            kids.sort()
        self.infos = infos
        self.children = children
        self.sorted = sorted(infos)

    def below(self, path: str) -> list:
        """The paths strictly below folder `path`, sorted."""
        if not path:
            return self.sorted
        lo = bisect.bisect_left(self.sorted, path + "/")
        # "0" follows "/" in byte order: the range ends before the first path >= path + "0".
        hi = bisect.bisect_left(self.sorted, path + "0", lo)
        return self.sorted[lo:hi]


def _open_repo(repo: Optional[str], remote: Optional[str], offline: bool) -> Repo:
    if remote is None and not offline:
        if repo is None:
            # Paths of dvx:// are relative to the root, not to the current directory.
            root = _repo(None).root
            if root is None:
                raise Error("the current directory is not inside a dvx repository")
            return _repo(os.fspath(root))
        return _repo(repo)
    if repo is None:
        root = Repo(remote=remote, offline=offline).root
        repo = None if root is None else os.fspath(root)
    spec = repo if repo is None or _is_url(repo) else os.path.abspath(repo)
    key = (spec, remote, bool(offline), os.getpid())
    with _REPOS_LOCK:
        r = _REPOS.get(key)
        if r is None:
            r = Repo(spec, remote=remote, offline=offline)
            _REPOS[key] = r
    return r


class DvxFileSystem(AbstractFileSystem):
    """A read-only fsspec file system over the datasets of one dvx repository at one revision.

    Parameters (also as `storage_options`):
        repo: a path, or a git URL read through the source cache of `dvx get` (default: the
            repository around the current directory).
        rev: anything git accepts, resolved to a commit when the instance is made (default:
            the worktree's pointers).
        remote: the dvx remote to read missing chunks from (default: the repository's).
        offline: never contact a remote (data missing from the store is an error).
    """

    protocol = "dvx"
    root_marker = ""
    # Each instance pins `rev` when made: reusing a cached instance would keep an old commit
    # for a branch that moved since. Listings are shared per commit instead (above).
    cachable = False

    def __init__(
        self,
        repo: Optional[Any] = None,
        rev: Optional[str] = None,
        remote: Optional[str] = None,
        offline: bool = False,
        **storage_options,
    ):
        super().__init__(repo=repo, rev=rev, remote=remote, offline=offline, **storage_options)
        spec = None if repo is None else os.fspath(repo)
        self._repo = _open_repo(spec, remote, offline)
        self.rev = rev
        self.commit: Optional[str] = None if rev is None else self._repo.resolve(rev)
        self._listing: Optional[_Listing] = None
        self._lock = threading.Lock()

    def __reduce__(self):
        # A copy (a DataLoader or dask worker) reads the same commit, not where `rev` is then.
        opts = dict(self.storage_options)
        if self.commit is not None:
            opts["rev"] = self.commit
        return _make, (type(self), opts)

    # --- paths

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = os.fspath(path)
        if path.startswith("dvx://"):
            path = path[len("dvx://"):]
        elif path.startswith("dvx::"):
            path = path[len("dvx::"):]
        parts = [p for p in path.split("/") if p not in ("", ".")]
        return "/".join(parts)

    def unstrip_protocol(self, name: str) -> str:
        return name if name.startswith("dvx://") else "dvx://" + name

    # --- the listing

    def listing(self) -> _Listing:
        """The listing of every dataset at this instance's commit (made on first use)."""
        if self._listing is not None:
            return self._listing
        with self._lock:
            if self._listing is not None:
                return self._listing
            key = None
            if self.commit is not None:
                key = (self._repo._args, self.commit)
                with _LISTINGS_LOCK:
                    found = _LISTINGS.get(key)
                    if found is not None:
                        _LISTINGS.move_to_end(key)
                        self._listing = found
                        return found
            entries = self._repo._native.ls(None, self.commit, True)
            listing = _Listing(entries)
            if key is not None:
                with _LISTINGS_LOCK:
                    _LISTINGS[key] = listing
                    while len(_LISTINGS) > _LISTINGS_MAX:
                        _LISTINGS.popitem(last=False)
            self._listing = listing
            return listing

    def invalidate_cache(self, path=None):
        # A pinned commit's listing never changes; the worktree's may.
        if self.commit is None:
            self._listing = None

    def _lookup(self, path: str) -> dict:
        path = self._strip_protocol(path)
        if path == "":
            return _dir("")
        info = self.listing().infos.get(path)
        if info is None:
            raise FileNotFoundError(self._missing(path))
        return info

    def _missing(self, path: str) -> str:
        at = f" at {self.rev}" if self.rev is not None else ""
        return f"dvx://{path}: no dataset holds this path{at}"

    # --- reading the tree

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        info = self._lookup(path)
        if info["type"] != "directory":
            return [dict(info)] if detail else [info["name"]]
        listing = self.listing()
        kids = listing.children.get(path, [])
        if not detail:
            return list(kids)
        return [dict(listing.infos[k]) for k in kids]

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if self._listing is None and path:
            # One path before any listing: ask for it alone (a folder that holds datasets but
            # is none itself is known only to the listing).
            try:
                e = self._repo._native.info(path, self.commit)
            except FileNotFoundError:
                pass
            else:
                info = _info(e)
                info["name"] = path
                return info
        return dict(self._lookup(path))

    def exists(self, path, **kwargs):
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path):
        try:
            return self.info(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path):
        try:
            return self.info(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        listing = self.listing()
        try:
            top = self._lookup(path)
        except FileNotFoundError:
            return {} if detail else []
        if top["type"] != "directory":
            return {path: dict(top)} if detail else [path]
        base = path.count("/") + 1 if path else 0
        names = []
        if withdirs and path:
            names.append(path)
        for name in listing.below(path):
            info = listing.infos[name]
            if maxdepth is not None and name.count("/") - base + 1 > maxdepth:
                continue
            if info["type"] == "directory" and not withdirs:
                continue
            names.append(name)
        if not detail:
            return names
        return {n: dict(listing.infos[n]) if n else _dir("") for n in names}

    def walk(self, path, maxdepth=None, topdown=True, on_error="omit", **kwargs):
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        path = self._strip_protocol(path)
        detail = kwargs.pop("detail", False)
        try:
            top = self._lookup(path)
        except FileNotFoundError as e:
            if on_error == "raise":
                raise
            if callable(on_error):
                on_error(e)
            return
        if top["type"] != "directory":
            return
        yield from self._walk(path, maxdepth, topdown, detail)

    def _walk(self, path, maxdepth, topdown, detail):
        listing = self.listing()
        dirs: dict = {}
        files: dict = {}
        for kid in listing.children.get(path, []):
            info = listing.infos[kid]
            name = kid.rsplit("/", 1)[-1]
            (dirs if info["type"] == "directory" else files)[name] = dict(info)
        if detail:
            out_dirs, out_files = dirs, files
        else:
            out_dirs, out_files = list(dirs), list(files)
        if topdown:
            yield path, out_dirs, out_files
        if maxdepth is None or maxdepth > 1:
            deeper = None if maxdepth is None else maxdepth - 1
            # Top-down, the caller may prune `out_dirs` in place, as with os.walk.
            for name in list(out_dirs):
                sub = f"{path}/{name}" if path else name
                yield from self._walk(sub, deeper, topdown, detail)
        if not topdown:
            yield path, out_dirs, out_files

    def du(self, path, total=True, maxdepth=None, withdirs=False, **kwargs):
        sizes = {
            n: i["size"]
            for n, i in self.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True).items()
            if i["type"] != "directory"
        }
        return sum(sizes.values()) if total else sizes

    def ukey(self, path):
        """The file's BLAKE3 (a folder's tree id): equal keys, equal bytes."""
        info = self.info(path)
        if info.get("digest"):
            return info["digest"]
        return f"{info['type']}:{info.get('destination')}"

    def checksum(self, path):
        return int(self.ukey(path), 16) if self.info(path).get("digest") else hash(self.ukey(path))

    def size(self, path):
        return self.info(path)["size"]

    # --- reading bytes

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode != "rb":
            raise self._read_only(path, f"open in mode {mode!r}")
        return self._repo.open(self._strip_protocol(path), rev=self.commit)

    def cat_file(self, path, start=None, end=None, **kwargs):
        path = self._strip_protocol(path)
        if start is None and end is None:
            return self._repo.read_bytes(path, rev=self.commit)
        with self._repo.open(path, rev=self.commit) as f:
            size = f.size
            start = 0 if start is None else (max(0, size + start) if start < 0 else start)
            end = size if end is None else (size + end if end < 0 else min(end, size))
            if end <= start:
                return b""
            # The raw stream reads exactly the range (no read-ahead of the buffer).
            raw = f.raw
            raw.seek(start)
            parts = []
            want = end - start
            while want > 0:
                chunk = raw.read(want)
                if not chunk:
                    break
                parts.append(chunk)
                want -= len(chunk)
            return b"".join(parts)

    def read_bytes(self, path, start=None, end=None, **kwargs):
        return self.cat_file(path, start, end)

    # --- read-only

    def _read_only(self, path, what: str) -> ReadOnlyError:
        return ReadOnlyError(
            f"dvx://{self._strip_protocol(path)}: cannot {what}: dvx:// is read-only; write the "
            "files in the worktree and save a version with `dvx add` (or dvx.Repo.add)",
            "read_only",
        )

    def mkdir(self, path, create_parents=True, **kwargs):
        raise self._read_only(path, "create a folder")

    def makedirs(self, path, exist_ok=False):
        raise self._read_only(path, "create a folder")

    def rmdir(self, path):
        raise self._read_only(path, "remove a folder")

    def rm_file(self, path):
        raise self._read_only(path, "remove a file")

    def _rm(self, path):
        raise self._read_only(path, "remove a file")

    def rm(self, path, recursive=False, maxdepth=None):
        raise self._read_only(path, "remove")

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        raise self._read_only(path, "write")

    def put_file(self, lpath, rpath, callback=None, mode="overwrite", **kwargs):
        raise self._read_only(rpath, "write")

    def cp_file(self, path1, path2, **kwargs):
        raise self._read_only(path2, "copy into")

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
        raise self._read_only(path1, "move")

    def touch(self, path, truncate=True, **kwargs):
        raise self._read_only(path, "touch")

    def created(self, path):
        raise NotImplementedError("dvx versions carry no file times: use dvx.log for commit dates")

    def modified(self, path):
        raise NotImplementedError("dvx versions carry no file times: use dvx.log for commit dates")


def _make(cls, storage_options):
    return cls(**storage_options)
