"""MLflow lineage against a real local tracking store: log a dataset version in a run, then
resolve the run's input back to byte-identical data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

import dvx  # noqa: E402
import dvx.mlflow as dvx_mlflow  # noqa: E402


@pytest.fixture
def tracking(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    yield tracking_uri
    if mlflow.active_run() is not None:
        mlflow.end_run()


def _files_under(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _assert_is_version(local: Path, registry, tag: str, dataset: str = "data"):
    want = {
        p[len(dataset) + 1:]: registry.cat(tag, p)
        for p in registry.files[tag]
        if p.startswith(dataset + "/")
    }
    assert _files_under(local) == want


def test_log_dataset_then_load_the_runs_input_back(registry, tracking):
    with mlflow.start_run() as run:
        ds = dvx.mlflow.log_dataset("data", rev="v2", repo=str(registry.path))
    commit = registry.commits["v2"]
    vid = dvx.id("data", rev="v2", repo=str(registry.path))
    assert len(vid) == 64

    got = mlflow.get_run(run.info.run_id)
    assert got.data.tags["dvx.id"] == vid
    assert got.data.tags["dvx.commit"] == commit
    (inp,) = got.inputs.dataset_inputs
    assert inp.dataset.digest == vid[:32]
    assert inp.dataset.source_type == "dvx"
    assert inp.dataset.name == "data"
    files = [p for p in registry.files["v2"] if p.startswith("data/")]
    assert json.loads(inp.dataset.profile) == {
        "files": len(files),
        "bytes": sum(len(registry.files["v2"][p]) for p in files),
    }
    src = json.loads(inp.dataset.source)
    assert src["commit"] == commit and src["path"] == "data" and src["id"] == vid
    assert src["repo"] == str(registry.path)
    assert src["remote"] and Path(src["remote"].removeprefix("file://")).resolve() == registry.remote.resolve()
    tags = {t.key: t.value for t in inp.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["dvx.id"] == vid and tags["dvx.commit"] == commit

    source = mlflow.data.get_source(inp)
    assert isinstance(source, dvx_mlflow.DvxDatasetSource)
    local = Path(source.load())
    _assert_is_version(local, registry, "v2")
    assert ds.digest == vid[:32]


def test_a_file_inside_a_dataset_loads_as_that_file(registry, tracking):
    with mlflow.start_run() as run:
        dvx.mlflow.log_dataset("data/train.csv", rev="v1", repo=str(registry.path), context="eval", name="train")
    (inp,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert inp.dataset.name == "train"
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "eval"
    src = mlflow.data.get_source(inp)
    assert src.dataset == "data" and src.path == "data/train.csv"
    assert Path(src.load()).read_bytes() == registry.cat("v1", "data/train.csv")


def test_the_source_resolves_in_a_fresh_interpreter_through_the_entry_point(registry, tracking, tmp_path):
    with mlflow.start_run() as run:
        dvx.mlflow.log_dataset("data", rev="v1", repo=str(registry.path))
    out = tmp_path / "loaded"
    code = (
        "import sys, mlflow\n"
        f"mlflow.set_tracking_uri({tracking!r})\n"
        f"run = mlflow.get_run({run.info.run_id!r})\n"
        "src = mlflow.data.get_source(run.inputs.dataset_inputs[0])\n"
        "assert type(src).__module__ == 'dvx.mlflow', type(src)\n"
        f"print(src.load(out={str(out)!r}))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    local = Path(p.stdout.decode().strip().splitlines()[-1])
    _assert_is_version(local, registry, "v1")


def test_logged_from_a_clone_loads_after_the_clone_is_gone(registry, clone, tracking, monkeypatch):
    d = clone()
    (d / "notebooks").mkdir()
    monkeypatch.chdir(d / "notebooks")
    # Relative to the current directory, as every dvx call without repo= (the clone has no
    # data/ on disk: nothing was pulled).
    with mlflow.start_run() as run:
        dvx.mlflow.log_dataset("../data", rev="v1")
    (inp,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    src = mlflow.data.get_source(inp)
    # The clone's origin (the registry) is what the run records; the clone is only a hint.
    assert src.repo == str(registry.path) and src.path == "data"
    monkeypatch.chdir(registry.path.parent)
    shutil.rmtree(d)
    _assert_is_version(Path(src.load()), registry, "v1")


def test_outside_a_run_is_an_error(registry, tracking):
    assert mlflow.active_run() is None
    with pytest.raises(dvx_mlflow.NoActiveRunError) as e:
        dvx.mlflow.log_dataset("data", rev="v1", repo=str(registry.path))
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, dvx.Error)
    assert "start_run" in str(e.value)


def test_unknown_path_and_revision_raise_dvx_errors(registry, tracking):
    with mlflow.start_run() as run:
        with pytest.raises(FileNotFoundError):
            dvx.mlflow.log_dataset("nope", rev="v1", repo=str(registry.path))
        with pytest.raises(dvx.RevisionError):
            dvx.mlflow.log_dataset("data", rev="no-such-tag", repo=str(registry.path))
    assert mlflow.get_run(run.info.run_id).inputs.dataset_inputs == []


def test_a_source_string_resolves_to_a_dvx_source(registry, tracking):
    pd = pytest.importorskip("pandas")
    import io

    df = pd.read_csv(io.BytesIO(registry.cat("v1", "data/train.csv")))
    uri = f"dvx://data/train.csv?rev=v1&repo={registry.path}"
    ds = mlflow.data.from_pandas(df, source=uri)
    assert isinstance(ds.source, dvx_mlflow.DvxDatasetSource)
    assert ds.source.commit == registry.commits["v1"]
    assert Path(ds.source.load()).read_bytes() == registry.cat("v1", "data/train.csv")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
    (inp,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert Path(mlflow.data.get_source(inp).load()).read_bytes() == registry.cat("v1", "data/train.csv")


def test_a_history_rewrite_is_detected_not_loaded(registry, tracking):
    src = dvx_mlflow.source_of("data", rev="v1", repo=str(registry.path))
    forged = dvx_mlflow.DvxDatasetSource.from_dict({**src.to_dict(), "id": "0" * 64})
    with pytest.raises(dvx.CorruptDataError):
        forged.load()


def test_from_dvx_is_a_valid_mlflow_dataset_constructor(registry, tracking):
    # What MLflow checks before registering a `mlflow.dataset_constructor` entry point.
    from mlflow.data.dataset_registry import DatasetRegistry

    reg = DatasetRegistry()
    assert reg.register_constructor(dvx_mlflow.from_dvx) == "from_dvx"
    ds = reg.constructors["from_dvx"]("data", rev="v3", repo=str(registry.path))
    assert ds.digest == dvx.id("data", rev="v3", repo=str(registry.path))[:32]
    assert ds.source.commit == registry.commits["v3"]


@pytest.mark.parametrize("first", ["import dvx; dvx.mlflow", "import mlflow.data, dvx.mlflow", "import dvx.mlflow"])
def test_the_source_is_registered_once_whatever_is_imported_first(first):
    # Imported before MLflow, dvx.mlflow makes MLflow load its entry points while it is itself
    # half-imported: no warning, and one registration either way.
    code = (
        f"{first}\n"
        "from mlflow.data.dataset_source_registry import get_registered_sources\n"
        "print(sum(1 for s in get_registered_sources() if s._get_source_type() == 'dvx'))\n"
    )
    p = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().strip() == "1"
