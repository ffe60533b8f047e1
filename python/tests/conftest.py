"""Fixtures of the Python tests: real git repositories built with the real `dvx` command.

Reuse them for any test of the `dvx` module:

- `dvx_bin` (session): the `dvx` command to build repositories with: the one installed next to
  this Python (the wheel's, `maturin develop` puts it in the venv's bin), else `$DVX_BIN`.
- `run_dvx(args, cwd)` / `run_git(args, cwd)`: run a command, fail the test with its output
  when it fails; `run_dvx` returns stdout as bytes.
- `registry` (session, do not modify it: clone it first): a git repository made with dvx, whose
  history has three versions of the dataset `data/` (tags v1, v2, v3, one commit each) plus a
  single-file dataset `labels.json` (added at v1, unchanged), all pushed to a folder remote
  `origin` (the default, committed in .dvx/config.toml). A `Registry` value:
      .path       the worktree (checked out at v3 = HEAD)
      .remote     the remote's folder
      .commits    {"v1": <full commit id>, "v2": ..., "v3": ...}
      .files      {"v1": {"data/train.csv": b"...", ...}, ...}: every file of every dataset at
                  each tag, as generated (the oracle, beside `dvx cat`)
      .cat(rev, path) -> bytes: `dvx cat <rev>:<path>` in the registry
  The data (seeded `random.Random`, a few MiB): `data/train.csv` (CSV rows; v2 edits rows and
  appends rows), `data/images/img_NNN.bin` (30 random files of 1-20 KiB; v2 deletes 3, adds
  5, rewrites 2), `data/model/weights.bin` (3 MiB random; v3 patches 4 KiB pages and inserts
  64 KiB), `data/README.txt` (v1 only: deleted at v3).
- `clone(dest=None)` (function): a `git clone` of the registry whose dvx store is empty (no
  `dvx pull`): every read must come from the folder remote. Returns the clone's path.
- `repo_factory(name)` (function): a fresh empty git repository with `dvx init` done, for
  tests that write.

Every git and dvx process runs with git isolated from the user's configuration, fixed author
names, and `DVX_CACHE_DIR` in the session's temp directory (set in `os.environ` for the whole
session, so the module's own calls use it too). The MLflow tests use a SQLite tracking store in
`tmp_path` when SQLAlchemy is installed, else MLflow's file store.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SEED = 20261202


def _find_dvx() -> str | None:
    # The command installed with this interpreter's dvx (the wheel's entry point) first: a
    # `dvx` earlier on PATH may be another build.
    scripts = sysconfig.get_path("scripts")
    for cand in (
        os.path.join(scripts, "dvx"),
        os.path.join(os.path.dirname(sys.executable), "dvx"),
    ):
        if os.access(cand, os.X_OK):
            return cand
    found = shutil.which("dvx")
    return found or os.environ.get("DVX_BIN")


@pytest.fixture(scope="session")
def dvx_bin() -> str:
    b = _find_dvx()
    if not b:
        pytest.fail(
            "no `dvx` command: install the wheel (or `maturin develop`) into this Python's "
            "environment, or set DVX_BIN to a dvx binary"
        )
    return b


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    """Git without the user's configuration, a private dvx cache, no inherited store."""
    cache = tmp_path_factory.mktemp("dvx-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("GIT_TERMINAL_PROMPT", "0")
    mp.setenv("GIT_AUTHOR_NAME", "dvx tests")
    mp.setenv("GIT_AUTHOR_EMAIL", "tests@dvx.invalid")
    mp.setenv("GIT_COMMITTER_NAME", "dvx tests")
    mp.setenv("GIT_COMMITTER_EMAIL", "tests@dvx.invalid")
    mp.setenv("DVX_CACHE_DIR", str(cache))
    mp.setenv("NO_COLOR", "1")
    for v in ("DVX_STORE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "MLFLOW_TRACKING_URI"):
        mp.delenv(v, raising=False)
    yield cache
    mp.undo()


def _run(cmd: list, cwd) -> bytes:
    p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    if p.returncode != 0:
        pytest.fail(
            f"command failed ({p.returncode}) in {cwd}: {' '.join(map(str, cmd))}\n"
            f"stdout: {p.stdout.decode(errors='replace')}\n"
            f"stderr: {p.stderr.decode(errors='replace')}"
        )
    return p.stdout


@pytest.fixture(scope="session")
def run_dvx(dvx_bin):
    def run(args: list, cwd) -> bytes:
        return _run([dvx_bin, *map(str, args)], cwd)

    return run


@pytest.fixture(scope="session")
def run_git():
    def run(args: list, cwd) -> bytes:
        return _run(["git", *map(str, args)], cwd)

    return run


# --- the generated data: a pure function of the seed and the version


def _csv_rows(rng: random.Random, start: int, n: int) -> list:
    stations = ["alpha", "bravo", "charlie", "delta", "echo"]
    return [
        f"{i},{1_700_000_000_000 + i * 1000},{rng.choice(stations)},"
        f"{rng.uniform(-20, 40):.3f},{rng.uniform(0, 100):.2f},{rng.randint(0, 1)}\n"
        for i in range(start, start + n)
    ]


def _versions() -> dict:
    """{tag: {path: bytes}} for v1, v2, v3 (the datasets `data/` and `labels.json`)."""
    rng = random.Random(SEED)
    header = "id,timestamp_ms,station,temperature,humidity,label\n"
    rows = _csv_rows(rng, 0, 3000)
    images = {f"data/images/img_{i:03d}.bin": rng.randbytes(rng.randint(1024, 20 * 1024)) for i in range(30)}
    weights = bytearray(rng.randbytes(3 << 20))
    labels = ('{"classes": ["cat", "dog", "bird"], "seed": %d}\n' % SEED).encode()
    v1 = {
        "data/train.csv": (header + "".join(rows)).encode(),
        "data/model/weights.bin": bytes(weights),
        "data/README.txt": b"generated test data; see python/tests/conftest.py\n",
        "labels.json": labels,
        **images,
    }

    # v2: edited rows, appended rows; images deleted, added and rewritten.
    rng2 = random.Random(SEED + 2)
    rows2 = list(rows)
    for at in rng2.sample(range(len(rows2)), 40):
        rows2[at] = _csv_rows(rng2, at, 1)[0]
    rows2 += _csv_rows(rng2, len(rows2), 500)
    images2 = dict(images)
    names = sorted(images2)
    for n in names[:3]:
        del images2[n]
    for n in names[10:12]:
        images2[n] = rng2.randbytes(len(images2[n]))
    for i in range(30, 35):
        images2[f"data/images/img_{i:03d}.bin"] = rng2.randbytes(rng2.randint(1024, 20 * 1024))
    v2 = {k: v for k, v in v1.items() if not k.startswith("data/images/")}
    v2["data/train.csv"] = (header + "".join(rows2)).encode()
    v2.update(images2)

    # v3: the weights patched in place and shifted by an insertion; the README removed.
    rng3 = random.Random(SEED + 3)
    w3 = bytearray(weights)
    for _ in range(8):
        off = rng3.randrange(0, len(w3) - 4096) & ~4095
        w3[off:off + 4096] = rng3.randbytes(4096)
    ins = rng3.randrange(0, len(w3))
    w3[ins:ins] = rng3.randbytes(64 * 1024)
    v3 = dict(v2)
    v3["data/model/weights.bin"] = bytes(w3)
    del v3["data/README.txt"]
    return {"v1": v1, "v2": v2, "v3": v3}


def _write_tree(root: Path, files: dict, previous: dict | None) -> None:
    for p in previous or {}:
        if p not in files:
            (root / p).unlink()
    for p, data in files.items():
        f = root / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)


@dataclass
class Registry:
    path: Path
    remote: Path
    dvx_bin: str
    commits: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def cat(self, rev: str, path: str) -> bytes:
        """`dvx cat <rev>:<path>` in the registry: the command line's bytes."""
        return _run([self.dvx_bin, "cat", f"{rev}:{path}"], self.path)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, dvx_bin, run_dvx, run_git) -> Registry:
    base = tmp_path_factory.mktemp("registry")
    path = base / "registry"
    remote = base / "remote"
    path.mkdir()
    run_git(["init", "-q", "-b", "main"], path)
    run_dvx(["init"], path)
    run_dvx(["remote", "add", "origin", remote, "--default"], path)
    reg = Registry(path=path, remote=remote, dvx_bin=dvx_bin)
    versions = _versions()
    previous = None
    for tag, files in versions.items():
        _write_tree(path, files, previous)
        if previous is None:
            run_dvx(["add", "data", "-m", f"data {tag}", "--meta", f"tag={tag}"], path)
            run_dvx(["add", "labels.json", "-m", "labels"], path)
        else:
            run_dvx(["add", "data", "-m", f"data {tag}", "--meta", f"tag={tag}"], path)
        run_git(["add", "-A"], path)
        run_git(["commit", "-q", "-m", f"data {tag}"], path)
        run_git(["tag", tag], path)
        reg.commits[tag] = run_git(["rev-parse", "HEAD"], path).decode().strip()
        reg.files[tag] = dict(files)
        previous = files
    run_dvx(["push", "--all-revs"], path)
    return reg


@pytest.fixture
def clone(registry, tmp_path, run_git):
    """A function: a fresh `git clone` of the registry (no `dvx pull`: its store is empty)."""
    made = []

    def make(dest: Path | None = None) -> Path:
        d = Path(dest) if dest is not None else tmp_path / f"clone{len(made)}"
        run_git(["clone", "-q", registry.path, d], tmp_path)
        made.append(d)
        return d

    return make


@pytest.fixture
def repo_factory(tmp_path, run_dvx, run_git):
    """A function: a fresh git repository with `dvx init` done, at `tmp_path / name`."""

    def make(name: str = "repo") -> Path:
        d = tmp_path / name
        d.mkdir()
        run_git(["init", "-q", "-b", "main"], d)
        run_dvx(["init"], d)
        return d

    return make


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """A real local MLflow tracking store, one per session (creating MLflow's SQLite schema
    takes seconds): SQLite when SQLAlchemy is installed, else MLflow's file store. Each test
    makes its own runs."""
    d = tmp_path_factory.mktemp("mlflow")
    try:
        import sqlalchemy  # noqa: F401

        return f"sqlite:///{d / 'mlflow.db'}"
    except ImportError:
        # MLflow 3 refuses its file store unless asked (it wants a database).
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        return (d / "mlruns").as_uri()
