"""MLflow's `mlflow.dataset_constructor` entry point: `mlflow.data.from_dvx`. A module of its
own that imports no dvx module at load: MLflow loads its entry points while it is itself being
imported, possibly by `dvx.mlflow`, which could not be loaded half-way. (MLflow requires the
return annotation to be a Dataset class, resolved at registration.)"""

from typing import Optional

from mlflow.data.dataset import Dataset


def from_dvx(
    path: str,
    rev: Optional[str] = None,
    repo: Optional[str] = None,
    name: Optional[str] = None,
    digest: Optional[str] = None,
) -> Dataset:
    """An MLflow dataset for `path` at `rev` in `repo` (for `mlflow.log_input`)."""
    from dvx.mlflow import from_dvx as build

    return build(path, rev=rev, repo=repo, name=name, digest=digest)
