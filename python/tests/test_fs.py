"""`dvx://` through fsspec: every read at every revision is byte-identical to `dvx cat`."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys

import pytest

fsspec = pytest.importorskip("fsspec")

import dvx  # noqa: E402
from dvx.fs import DvxFileSystem, ReadOnlyError  # noqa: E402

TAGS = ("v1", "v2", "v3")


def _fs(registry, rev=None, **kw):
    return fsspec.filesystem("dvx", repo=str(registry.path), rev=rev, **kw)


def _dirs_of(files) -> set:
    out = set()
    for p in files:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def test_the_protocol_is_dvx():
    assert fsspec.get_filesystem_class("dvx") is DvxFileSystem
    assert DvxFileSystem._strip_protocol("dvx://data/a.csv") == "data/a.csv"
    assert DvxFileSystem._strip_protocol("dvx://data//images/") == "data/images"
    assert DvxFileSystem._strip_protocol("dvx://./data/a.csv") == "data/a.csv"
    assert DvxFileSystem._strip_protocol("dvx::data") == "data"
    assert DvxFileSystem._strip_protocol("dvx://") == ""
    assert DvxFileSystem._strip_protocol(["dvx://a", "b/"]) == ["a", "b"]


@pytest.mark.parametrize("tag", TAGS)
def test_fsspec_open_reads_every_file_as_dvx_cat(registry, tag):
    for path, data in registry.files[tag].items():
        with fsspec.open(f"dvx://{path}", rev=tag, repo=str(registry.path)) as f:
            got = f.read()
        assert got == data, path
        assert got == registry.cat(tag, path), path


def test_fsspec_open_text_mode_and_seek(registry):
    expected = registry.cat("v1", "data/train.csv")
    with fsspec.open("dvx://data/train.csv", "rt", rev="v1", repo=str(registry.path)) as f:
        assert f.readline() == expected.decode().splitlines(keepends=True)[0]
    with fsspec.open("dvx://data/model/weights.bin", rev="v3", repo=str(registry.path)) as f:
        data = registry.files["v3"]["data/model/weights.bin"]
        assert f.seekable()
        f.seek(len(data) - 100)
        assert f.read() == data[-100:]
        f.seek(12345)
        assert f.read(777) == data[12345:12345 + 777]


def test_ls_of_folders_and_files(registry):
    fs = _fs(registry, "v2")
    assert fs.ls("", detail=False) == ["data", "labels.json"]
    files = registry.files["v2"]
    below_data = sorted({"/".join(p.split("/")[:2]) for p in files if p.startswith("data/")})
    assert fs.ls("data", detail=False) == below_data
    assert fs.ls("dvx://data/", detail=False) == below_data
    detail = {e["name"]: e for e in fs.ls("data/images")}
    want = {p: d for p, d in files.items() if p.startswith("data/images/")}
    assert set(detail) == set(want)
    for p, d in want.items():
        assert detail[p]["type"] == "file"
        assert detail[p]["size"] == len(d)
    # A file lists as itself, as fsspec's local file system does.
    (one,) = fs.ls("data/train.csv")
    assert one["name"] == "data/train.csv" and one["size"] == len(files["data/train.csv"])
    with pytest.raises(FileNotFoundError):
        fs.ls("data/nope")


def test_ls_digests_are_those_of_dvx_ls_json(registry, run_dvx):
    fs = _fs(registry, "v1")
    out = json.loads(run_dvx(["ls", "v1", "data", "--json"], registry.path))
    cli = {e["path"]: e for e in out["entries"]}
    ours = fs.find("data", withdirs=True, detail=True)
    for path, e in cli.items():
        assert ours[path]["digest"] == e["digest"], path
        assert ours[path]["size"] == e["size"], path
    assert {p for p, i in ours.items() if i["type"] == "file"} == {
        p for p in registry.files["v1"] if p.startswith("data/")
    }
    assert fs.ukey("data/train.csv") == cli["data/train.csv"]["digest"]
    assert fs.checksum("data/train.csv") == int(cli["data/train.csv"]["digest"], 16)


def test_info_exists_isdir_isfile(registry):
    fs = _fs(registry, "v3")
    files = registry.files["v3"]
    i = fs.info("data/model/weights.bin")
    assert i["type"] == "file" and i["size"] == len(files["data/model/weights.bin"])
    assert len(i["digest"]) == 64
    assert fs.info("data")["type"] == "directory"
    assert fs.info("data/images")["type"] == "directory"
    assert fs.info("")["type"] == "directory"
    assert fs.isfile("labels.json") and not fs.isdir("labels.json")
    assert fs.isdir("data/model") and not fs.isfile("data/model")
    assert fs.exists("data/train.csv")
    # Deleted at v3, present at v1.
    assert not fs.exists("data/README.txt")
    assert _fs(registry, "v1").exists("data/README.txt")
    with pytest.raises(FileNotFoundError) as e:
        fs.info("data/README.txt")
    assert "data/README.txt" in str(e.value)
    assert fs.size("labels.json") == len(files["labels.json"])


def test_info_after_a_listing_agrees_with_info_before(registry):
    before = {p: _fs(registry, "v2").info(p) for p in ("data/train.csv", "data/images", "labels.json")}
    fs = _fs(registry, "v2")
    fs.find("")
    for p, i in before.items():
        after = fs.info(p)
        for k in ("name", "size", "type", "digest"):
            assert after[k] == i[k], (p, k)


def test_find_and_walk_come_from_one_listing(registry):
    fs = _fs(registry, "v2")
    files = registry.files["v2"]
    assert fs.find("") == sorted(files)
    assert fs.find("data/images") == sorted(p for p in files if p.startswith("data/images/"))
    assert fs.find("data", maxdepth=1) == sorted(p for p in files if p.count("/") == 1 and p.startswith("data/"))
    assert fs.find("data/train.csv") == ["data/train.csv"]
    assert fs.find("nope") == []
    with_dirs = fs.find("data", withdirs=True)
    assert set(with_dirs) == {p for p in files if p.startswith("data/")} | _dirs_of(
        p for p in files if p.startswith("data/")
    )
    listing = fs.listing()
    walked = {}
    for root, dirs, names in fs.walk(""):
        walked[root] = (sorted(dirs), sorted(names))
    assert fs.listing() is listing
    assert walked["data"] == (["images", "model"], ["README.txt", "train.csv"])
    assert walked[""] == (["data"], ["labels.json"])
    assert set(walked) == {""} | _dirs_of(files)
    # Top-down pruning, as os.walk.
    seen = []
    for root, dirs, _ in fs.walk("data"):
        seen.append(root)
        if "images" in dirs:
            dirs.remove("images")
    assert "data/images" not in seen and "data/model" in seen
    assert fs.du("data") == sum(len(d) for p, d in files.items() if p.startswith("data/"))
    assert sorted(fs.glob("data/images/*.bin")) == sorted(p for p in files if p.startswith("data/images/"))
    # A second instance at the same commit reuses the listing.
    assert _fs(registry, registry.commits["v2"]).listing() is listing


@pytest.mark.parametrize(
    "start,end",
    [(None, None), (0, 10), (10, 0), (100, 100), (1000, 5000), (-100, None), (None, -100), (-5000, -1000),
     (3 << 20, None), (0, 10 ** 9), (10 ** 9, None)],
)
def test_cat_file_ranges(registry, start, end):
    fs = _fs(registry, "v3")
    data = registry.cat("v3", "data/model/weights.bin")
    got = fs.cat_file("data/model/weights.bin", start=start, end=end)
    assert got == data[slice(start, end)]


def test_pandas_read_csv_through_fsspec_at_two_revisions(registry, monkeypatch):
    pd = pytest.importorskip("pandas")
    monkeypatch.chdir(registry.path)
    for tag in ("v1", "v2"):
        df = pd.read_csv("dvx://data/train.csv", storage_options={"rev": tag})
        want = pd.read_csv(io.BytesIO(registry.cat(tag, "data/train.csv")))
        pd.testing.assert_frame_equal(df, want)
    assert len(pd.read_csv("dvx://data/train.csv", storage_options={"rev": "v2"})) == 3500
    assert len(pd.read_csv("dvx://data/train.csv", storage_options={"rev": "v1"})) == 3000


def test_the_entry_point_needs_no_import_of_dvx(registry):
    # A fresh interpreter: fsspec finds `dvx` through the `fsspec.specs` entry point.
    code = (
        "import sys, fsspec, pandas\n"
        "assert 'dvx' not in sys.modules\n"
        "df = pandas.read_csv('dvx://data/train.csv', storage_options={'rev': 'v2'})\n"
        "assert 'dvx' in sys.modules\n"
        "with fsspec.open('dvx://data/model/weights.bin', rev='v1') as f:\n"
        "    sys.stdout.buffer.write(f.read())\n"
        "sys.stderr.write(str(len(df)))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=registry.path, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == registry.cat("v1", "data/model/weights.bin")
    assert p.stderr.decode().strip().endswith("3500")


def test_rev_is_pinned_once_per_instance_and_pickles_as_the_commit(registry):
    fs = _fs(registry, "main")
    assert fs.commit == registry.commits["v3"]
    assert _fs(registry, "v1").commit == registry.commits["v1"]
    copy = pickle.loads(pickle.dumps(fs))
    assert copy.commit == fs.commit
    assert copy.storage_options["rev"] == registry.commits["v3"]
    assert copy.cat_file("labels.json") == registry.cat("v3", "labels.json")
    # A file object of it pickles too (DataLoader workers).
    with fs.open("data/train.csv") as f:
        f.seek(10)
        g = pickle.loads(pickle.dumps(f))
        assert g.read() == registry.cat("v3", "data/train.csv")[10:]


def test_worktree_pointers_without_rev(registry, monkeypatch):
    monkeypatch.chdir(registry.path / "data")
    fs = fsspec.filesystem("dvx")
    assert fs.commit is None
    # Paths are relative to the root, not to the current directory.
    assert fs.cat_file("data/train.csv") == registry.cat("HEAD", "data/train.csv")
    assert fs.ls("", detail=False) == ["data", "labels.json"]


def test_reads_from_a_clone_with_an_empty_store_come_from_the_remote(registry, clone):
    d = clone()
    store = d / ".dvx" / "store"
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))
    fs = fsspec.filesystem("dvx", repo=str(d), rev="v1")
    for path in ("data/train.csv", "data/model/weights.bin", "labels.json"):
        assert fs.cat_file(path) == registry.files["v1"][path]
    assert fs.cat_file("data/model/weights.bin", 1 << 20, (1 << 20) + 100) == registry.files["v1"][
        "data/model/weights.bin"][1 << 20:(1 << 20) + 100]
    assert fs.find("data/images") == sorted(p for p in registry.files["v1"] if p.startswith("data/images/"))


def test_writes_are_refused_clearly(registry):
    fs = _fs(registry, "v1")
    for call in (
        lambda: fs.open("data/new.csv", "wb"),
        lambda: fs.pipe_file("data/new.csv", b"x"),
        lambda: fs.rm("data/train.csv"),
        lambda: fs.mkdir("data/new"),
        lambda: fs.touch("data/new"),
        lambda: fs.mv("data/train.csv", "data/b.csv"),
    ):
        with pytest.raises(ReadOnlyError) as e:
            call()
        assert isinstance(e.value, PermissionError) and isinstance(e.value, dvx.Error)
        assert "read-only" in str(e.value) and "dvx add" in str(e.value)


def test_errors(registry):
    with pytest.raises(dvx.RevisionError):
        _fs(registry, "no-such-rev")
    with pytest.raises(ValueError):
        _fs(registry, "no-such-rev")
    fs = _fs(registry, "v1")
    with pytest.raises(FileNotFoundError):
        fs.open("data/nope.csv")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("nope/nope")


def test_no_repository_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dvx.Error):
        fsspec.filesystem("dvx")


def test_repo_default_is_found_from_the_cwd(registry, monkeypatch):
    monkeypatch.chdir(registry.path)
    with fsspec.open("dvx://labels.json", rev="v1") as f:
        assert f.read() == registry.files["v1"]["labels.json"]
    assert os.getcwd() == str(registry.path)
