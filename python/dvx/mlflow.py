"""MLflow lineage: which version of which dataset a run read, recorded so that it can be read
again byte for byte.

    import dvx, mlflow
    with mlflow.start_run():
        dvx.mlflow.log_dataset("data", context="training")

    run = mlflow.get_run(run_id)
    path = mlflow.data.get_source(run.inputs.dataset_inputs[0]).load()   # exactly that version

`log_dataset` logs an MLflow dataset input whose source is a `DvxDatasetSource` (source type
"dvx", registered through MLflow's `mlflow.dataset_source` entry point): the repository (its
`origin` URL, else its path), the commit, the path, the version id and the dvx remote's URL.
The dataset's digest is the version id's first 32 hex characters; its profile holds the number
of files and bytes. The run gets the tags `dvx.id` and `dvx.commit`.

This module imports mlflow: `import dvx` does not import it until `dvx.mlflow` is used.
"""

# No `from __future__ import annotations`: MLflow checks `from_dvx`'s return annotation with
# issubclass, which needs the class, not a string.

import json
import os
import sys
import warnings
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

with warnings.catch_warnings():
    # Imported before MLflow, this module makes MLflow load its dataset sources now, and the
    # entry point to DvxDatasetSource cannot load yet (it is defined below): registered at the
    # end of this module instead.
    warnings.filterwarnings("ignore", message=r".*dvx\.mlflow:DvxDatasetSource", category=UserWarning)
    import mlflow.data  # noqa: F401
from mlflow.data.dataset import Dataset
from mlflow.data.dataset_source import DatasetSource

from ._errors import Error
from ._repo import _is_url, _repo

__all__ = ["DvxDataset", "DvxDatasetSource", "NoActiveRunError", "from_dvx", "log_dataset"]

SOURCE_TYPE = "dvx"


class NoActiveRunError(Error, RuntimeError):
    """`log_dataset` outside an MLflow run."""

    kind = "no_active_run"


class DvxDatasetSource(DatasetSource):
    """One version of a path in a dvx repository: where it is and how to get it back.

    Attributes:
        repo: the repository: its `origin` URL when it has one, else its path.
        commit: the full commit id the version was read at (None: the worktree's pointer,
            uncommitted when logged).
        path: the path logged, relative to the repository's root (a dataset, or a folder or
            file inside one).
        dataset: the path of the dataset that holds `path`.
        id: the dataset's version id (64 hex).
        remote: the URL of the dvx remote that holds the data (None: the repository has none).
        rev: the revision as given when logged (informative; `commit` is what `load` reads).
        worktree: the worktree the version was logged from, tried first by `load` (its store
            may hold data that was never pushed).
    """

    def __init__(
        self,
        repo: str,
        commit: Optional[str],
        path: str,
        id: str,  # noqa: A002 - the name dvx uses
        dataset: Optional[str] = None,
        remote: Optional[str] = None,
        rev: Optional[str] = None,
        worktree: Optional[str] = None,
    ):
        self.repo = repo
        self.commit = commit
        self.path = path
        self.id = id
        self.dataset = dataset if dataset is not None else path
        self.remote = remote
        self.rev = rev
        self.worktree = worktree

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    @property
    def uri(self) -> str:
        """`dvx://<path>?repo=...&commit=...`: a readable one-line form of the source."""
        q = f"repo={self.repo}"
        if self.commit:
            q += f"&commit={self.commit}"
        return f"dvx://{self.path}?{q}"

    def load(self, out: Optional[str] = None) -> str:
        """The local path of exactly this version of `path` (a file or a folder): a read-only
        copy under the user cache (or `out`), fetched from the remote when no store has it.
        Raises `dvx.CorruptDataError` if what it finds is not the logged version."""
        errors = []
        for repo in self._repositories():
            try:
                r = _repo(repo)
                found = r.id(self.path, self.commit)
            except Error as e:
                # This copy of the repository cannot answer (moved, no such commit): next one.
                errors.append(f"{repo}: {e}")
                continue
            if found != self.id:
                from ._errors import CorruptDataError

                raise CorruptDataError(
                    f"{repo}: {self.path} at {self.commit or 'the worktree'} is version {found}, "
                    f"but the run logged version {self.id}: the repository's history was "
                    "rewritten, or the wrong repository is at this place",
                    "corrupt_object",
                )
            return os.fspath(r.get(self.path, self.commit, out))
        from ._errors import NotFoundError

        raise NotFoundError(
            f"cannot read {self.path} at {self.commit or 'the worktree'} (version {self.id}): "
            + "; ".join(errors),
            "not_a_repository",
        )

    def _repositories(self) -> list:
        out = []
        if self.worktree and os.path.isdir(self.worktree):
            out.append(self.worktree)
        if self.repo and self.repo not in out and (_is_url(self.repo) or os.path.isdir(self.repo)):
            out.append(self.repo)
        if not out:
            out.append(self.repo)
        return out

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith("dvx://")

    @classmethod
    def _resolve(cls, raw_source: Any) -> "DvxDatasetSource":
        """A source from `dvx://<path>[?rev=...&repo=...]` (e.g. for
        `mlflow.data.from_pandas(df, source="dvx://data/train.csv?rev=v2")`)."""
        parts = urlsplit(raw_source)
        path = (parts.netloc + parts.path).strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        rev = query.get("rev") or query.get("commit")
        return source_of(path, rev=rev, repo=query.get("repo"))

    def to_dict(self) -> dict:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "path": self.path,
            "dataset": self.dataset,
            "id": self.id,
            "remote": self.remote,
            "rev": self.rev,
            "worktree": self.worktree,
        }

    @classmethod
    def from_dict(cls, source_dict: dict) -> "DvxDatasetSource":
        d = dict(source_dict)
        return cls(
            repo=d["repo"],
            commit=d.get("commit"),
            path=d["path"],
            id=d["id"],
            dataset=d.get("dataset"),
            remote=d.get("remote"),
            rev=d.get("rev"),
            worktree=d.get("worktree"),
        )

    def __repr__(self) -> str:
        return f"DvxDatasetSource({self.uri!r}, id={self.id[:16]}...)"


class DvxDataset(Dataset):
    """A dataset input of MLflow for one version in a dvx repository: metadata only (the
    bytes stay in dvx); digest = the version id's first 32 hex characters."""

    def __init__(
        self,
        source: DvxDatasetSource,
        files: int,
        bytes: int,  # noqa: A002 - as dvx.DatasetInfo names it
        name: Optional[str] = None,
        digest: Optional[str] = None,
    ):
        self._files = int(files)
        self._bytes = int(bytes)
        super().__init__(source=source, name=name or source.path, digest=digest)

    def _compute_digest(self) -> str:
        return self.source.id[:32]

    @property
    def source(self) -> DvxDatasetSource:
        return self._source

    @property
    def profile(self) -> dict:
        return {"files": self._files, "bytes": self._bytes}

    @property
    def schema(self) -> None:
        return None

    def to_dict(self) -> dict:
        config = super().to_dict()
        config["profile"] = json.dumps(self.profile)
        return config


def _root_relative(path: str, repo) -> str:
    """`path` relative to the repository's root: dvx reads a path relative to the current
    directory when no repository is given; the record must not depend on where it was run."""
    p = os.fspath(path)
    if repo is not None:
        return p.replace(os.sep, "/").strip("/")
    root = _repo(None).root
    if root is None:
        return p.replace(os.sep, "/").strip("/")
    rel = os.path.relpath(os.path.abspath(p), os.fspath(root))
    return "." if rel == "." else rel.replace(os.sep, "/")


def source_of(path, rev: Optional[str] = None, repo=None) -> DvxDatasetSource:
    """The source of `path` at `rev` in `repo` (default: the repository around the current
    directory), with the commit `rev` names now."""
    return _source_and_info(path, rev, repo)[0]


def _source_and_info(path, rev, repo):
    r = _repo(repo)
    info = r.dataset(path, rev)
    rel = _root_relative(path, repo)
    root = r.root
    return (
        DvxDatasetSource(
            repo=info.repo,
            commit=info.commit,
            path=rel,
            id=info.id,
            dataset=info.path,
            remote=info.remote,
            rev=rev,
            worktree=None if root is None else os.fspath(root),
        ),
        info,
    )


def from_dvx(
    path: str,
    rev: Optional[str] = None,
    repo: Optional[str] = None,
    name: Optional[str] = None,
    digest: Optional[str] = None,
) -> DvxDataset:
    """An MLflow dataset for `path` at `rev` in `repo` (for `mlflow.log_input`)."""
    source, info = _source_and_info(path, rev, repo)
    return DvxDataset(source, files=info.files, bytes=info.bytes, name=name, digest=digest)


def log_dataset(
    path,
    rev: Optional[str] = None,
    repo=None,
    context: Optional[str] = "training",
    name: Optional[str] = None,
) -> DvxDataset:
    """Records in the active MLflow run that it reads `path` at `rev` in `repo`: a dataset
    input (source type "dvx", digest = the version id's first 32 hex characters, profile =
    files and bytes) and the run tags `dvx.id` and `dvx.commit`. Returns the logged dataset.

    Raises `dvx.mlflow.NoActiveRunError` outside a run (`with mlflow.start_run(): ...`), and
    the errors of `dvx.dataset` (an unknown path or revision).
    """
    import mlflow

    if mlflow.active_run() is None:
        raise NoActiveRunError(
            "dvx.mlflow.log_dataset: no active MLflow run: call it inside "
            "`with mlflow.start_run():`",
            "no_active_run",
        )
    register()
    ds = from_dvx(os.fspath(path), rev=rev, repo=repo, name=name)
    src = ds.source
    if src.commit is None:
        warnings.warn(
            f"dvx.mlflow.log_dataset: {src.path} is logged from the worktree's pointer, which "
            "no commit holds yet: the run records version "
            f"{src.id}, which only this worktree's store can give back until it is committed "
            "and pushed",
            stacklevel=2,
        )
    tags = {"dvx.id": src.id, "dvx.path": src.path}
    if src.commit:
        tags["dvx.commit"] = src.commit
    mlflow.log_input(ds, context=context, tags=tags)
    run_tags = {"dvx.id": src.id}
    if src.commit:
        run_tags["dvx.commit"] = src.commit
    mlflow.set_tags(run_tags)
    return ds


def register() -> None:
    """Registers `DvxDatasetSource` with MLflow, if its entry point did not (dvx imported
    from a source tree, not installed)."""
    from mlflow.data.dataset_source_registry import (
        get_registered_sources,
        register_dataset_source,
    )

    if not any(s is DvxDatasetSource for s in get_registered_sources()):
        register_dataset_source(DvxDatasetSource)


# Loaded by MLflow's entry point, mlflow.data is still initialising and registers this class
# itself; imported first, the entry point failed above: register now.
if hasattr(sys.modules.get("mlflow.data"), "get_source"):
    register()
