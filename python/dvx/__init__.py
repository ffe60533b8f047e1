"""dvx: versioned datasets next to git, from Python.

    import dvx
    df = pandas.read_csv(dvx.open("data/train.csv", rev="v1"))   # no checkout, seekable
    for e in dvx.ls("data/images", rev="v2"): print(e.path, e.size, e.digest)
    with mlflow.start_run(): dvx.mlflow.log_dataset("data")     # lineage

Every call takes `repo=` (a path, or a git URL read through the source cache of `dvx get`;
default: the repository around the current directory) and `rev=` (anything git accepts;
default: the worktree's pointers). docs/python.md has the whole API.
"""

from . import _core
from ._errors import (
    AlreadyExistsError,
    BusyError,
    ConfigError,
    CorruptDataError,
    Error,
    InvalidArgumentError,
    MissingDataError,
    NotARegularFileError,
    NotFoundError,
    PassphraseError,
    RemoteError,
    RevisionError,
    StorageError,
    UnsavedChangesError,
    KINDS as _KINDS,
)

_core._register_errors(Error, _KINDS)

__version__ = _core.version()

__all__ = [
    "AddReport", "AlreadyExistsError", "BusyError", "CheckoutReport", "ConfigError",
    "CorruptDataError", "DatasetInfo", "DatasetStatus", "Entry", "Error",
    "InvalidArgumentError", "MissingDataError", "NotARegularFileError", "NotFoundError",
    "PassphraseError", "RemoteError", "Repo", "RevisionError", "StatusReport", "StorageError", "TransferReport",
    "UnsavedChangesError", "Version", "dataset", "get", "id", "info", "log", "ls", "open",
    "read_bytes", "read_text", "resolve",
]
# Not in __all__: `DvxFileSystem` and `mlflow` need fsspec and MLflow, which `import *` must
# not require; they load on first use like the rest.


# The API and its types load on first use (PEP 562): the `dvx` command imports this package
# before it runs, and their imports (collections, threading) would cost it more
# start-up than the command line itself (docs/ARCHITECTURE.md "Python").
_LAZY = {
    **dict.fromkeys(
        ["Repo", "dataset", "get", "id", "info", "log", "ls", "open", "read_bytes", "read_text",
         "resolve"],
        "_repo",
    ),
    **dict.fromkeys(
        ["AddReport", "CheckoutReport", "DatasetInfo", "DatasetStatus", "Entry", "StatusReport",
         "TransferReport", "Version"],
        "_types",
    ),
}

# Not `typing.TYPE_CHECKING`: importing typing is part of the cost above. Type checkers read
# these imports; Python never runs them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._repo import Repo, dataset, get, id, info, log, ls, open, read_bytes, read_text, resolve
    from ._types import (
        AddReport,
        CheckoutReport,
        DatasetInfo,
        DatasetStatus,
        Entry,
        StatusReport,
        TransferReport,
        Version,
    )
    from .fs import DvxFileSystem


def __getattr__(name):
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(f"dvx.{module}"), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    if name in ("_repo", "_io", "_types"):
        # `dvx._repo` without importing it first, as when __init__ imported it.
        import importlib

        return importlib.import_module(f"dvx.{name}")
    # The fsspec and MLflow layers import their libraries: only when used.
    if name == "mlflow":
        import importlib

        return importlib.import_module("dvx.mlflow")
    if name == "DvxFileSystem":
        from .fs import DvxFileSystem

        return DvxFileSystem
    raise AttributeError(f"module 'dvx' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
