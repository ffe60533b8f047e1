"""The values dvx returns: entries of a listing, versions of a log, and the reports of the
operations that change a repository. Named tuples: they compare, print, pickle and unpack,
and cost little to create (a listing makes millions; `dataclasses` would also cost `import
dvx` tens of milliseconds)."""

from collections import namedtuple


class Entry(namedtuple("Entry", "path size digest kind executable target", defaults=(False, None))):
    """One entry of `dvx.ls`, as `dvx ls --json` prints it: `path`, `size`, `digest` (BLAKE3
    hex of a file's bytes, what `b3sum` prints; a folder's tree id; None for a link), `kind`
    ("file", "dir" or "symlink"), `executable`, `target` (a link's)."""

    __slots__ = ()


class Version(namedtuple("Version", "path commit date id files bytes message meta", defaults=({},))):
    """One version of a dataset in `dvx.log`, newest first: `date` is the commit's (RFC 3339),
    `id` None where the commit removed the dataset."""

    __slots__ = ()


class DatasetInfo(
    namedtuple("DatasetInfo", "repo commit path id files bytes remote rev", defaults=(None,))
):
    """Where one version of a dataset comes from (`dvx.dataset`): `repo` (its `origin` URL,
    else its path, or the source URL), `commit` (None: the worktree's pointer), `path`, `id`,
    `files`, `bytes`, `remote` (the URL of the dvx remote holding the data), `rev` as given."""

    __slots__ = ()


class DatasetAdded(namedtuple("DatasetAdded", "path id previous files bytes")):
    """A dataset `add` saved."""

    __slots__ = ()


class AddReport(namedtuple("AddReport", "datasets")):
    """What `Repo.add` did: `datasets`, a list of `DatasetAdded`."""

    __slots__ = ()


class DatasetStatus(
    namedtuple("DatasetStatus", "path pointer id state added modified deleted")
):
    """One dataset of `Repo.status`: `state` is "clean", "modified", "missing" or
    "not_in_store"; `added`, `modified`, `deleted` list paths."""

    __slots__ = ()


class StatusReport(namedtuple("StatusReport", "datasets")):
    """What `Repo.status` found: `datasets`, a list of `DatasetStatus`."""

    __slots__ = ()

    @property
    def clean(self) -> bool:
        return all(d.state == "clean" for d in self.datasets)


class DatasetCheckout(
    namedtuple("DatasetCheckout", "path id written bytes_written removed unchanged")
):
    """A dataset `checkout` wrote."""

    __slots__ = ()


class CheckoutReport(namedtuple("CheckoutReport", "datasets")):
    """What `Repo.checkout` did: `datasets`, a list of `DatasetCheckout`."""

    __slots__ = ()


class TransferReport(
    namedtuple(
        "TransferReport",
        "remote datasets files bytes transferred objects requests chunks seconds checkout "
        "fallbacks",
        defaults=(None, ()),
    )
):
    """What a push, fetch or pull did: `transferred` bytes sent or received, `checkout` (a
    `CheckoutReport`, pull), `fallbacks` (imported datasets pull fetched from their source)."""

    __slots__ = ()
