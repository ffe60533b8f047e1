"""The read API and the repository operations of `import dvx`, against real git repositories
built with the `dvx` command, compared with `dvx cat`."""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import pathlib
import pickle
import random
import shutil
import subprocess
import uuid

import pytest

import dvx

from conftest import _find_dvx

DVX = _find_dvx()


def run(cwd, *args, env=None, input=None) -> bytes:
    cmd = [DVX, *args] if args[0] != "git" else list(args)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env, input=input)
    if p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}): {p.stderr.decode()}")
    return p.stdout


def git(cwd, *args) -> bytes:
    return run(cwd, "git", *args)


def write(path: pathlib.Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def new_repo(path: pathlib.Path) -> pathlib.Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test")
    run(path, "init")
    return path


def commit(repo: pathlib.Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A repository with three tagged versions of `data/` (files added, changed, removed) and
    of the single-file dataset `model.bin`, all pushed to a folder remote."""
    root = tmp_path_factory.mktemp("history")
    repo = new_repo(root / "repo")
    remote = root / "remote"
    run(repo, "remote", "add", "origin", str(remote))
    rng = random.Random(13)
    files = {}
    for i in range(30):
        files[f"data/part{i % 4}/f{i:02}.bin"] = rng.randbytes(rng.randrange(0, 300_000))
    files["data/train.csv"] = b"".join(b"%d,%d,%f\n" % (i, i * i, i / 7) for i in range(20_000))
    for p, b in files.items():
        write(repo / p, b)
    write(repo / "model.bin", rng.randbytes(2_500_000))
    run(repo, "add", "data", "model.bin", "-m", "first")
    commit(repo, "v1", "v1")
    # v2: some files changed, some removed, some added.
    for i in range(0, 30, 5):
        write(repo / f"data/part{i % 4}/f{i:02}.bin", rng.randbytes(50_000))
    for i in range(1, 30, 7):
        (repo / f"data/part{i % 4}/f{i:02}.bin").unlink()
    write(repo / "data/new/extra.txt", b"hello\n" * 1000)
    model = bytearray((repo / "model.bin").read_bytes())
    model[1_000_000:1_000_100] = b"x" * 100
    write(repo / "model.bin", bytes(model))
    run(repo, "add", "data", "model.bin", "-m", "second")
    commit(repo, "v2", "v2")
    write(repo / "data/train.csv", b"a,b,c\n" + b"1,2,3\n" * 5000)
    run(repo, "add", "data", "-m", "third")
    commit(repo, "v3", "v3")
    run(repo, "push", "--all-revs")
    return repo


def cat(repo, rev, path) -> bytes:
    return run(repo, "cat", f"{rev}:{path}")


def test_every_read_api_at_every_revision_matches_dvx_cat(history, tmp_path):
    r = dvx.Repo(history)
    for rev in ["v1", "v2", "v3", "HEAD~1"]:
        commit_id = r.resolve(rev)
        assert len(commit_id) == 40
        entries = dvx.ls("data", rev=rev, repo=history)
        files = [e for e in entries if e.kind == "file"]
        assert files, rev
        for e in files:
            want = cat(history, rev, e.path)
            assert e.size == len(want)
            assert e.digest == dvx_b3(want)
            assert dvx.read_bytes(e.path, rev=rev, repo=history) == want
            with dvx.open(e.path, rev=rev, repo=history) as f:
                assert f.read() == want
            assert r.read_bytes(e.path, rev=commit_id) == want
        text = dvx.read_text("data/train.csv", rev=rev, repo=history)
        assert text.encode() == cat(history, rev, "data/train.csv")
        with dvx.open("data/train.csv", rev=rev, repo=history, mode="r") as f:
            assert f.readline().encode() == cat(history, rev, "data/train.csv").split(b"\n")[0] + b"\n"
        model = cat(history, rev, "model.bin")
        assert dvx.read_bytes("model.bin", rev=rev, repo=history) == model
        # get: a directory holding exactly that version, reused by the next call.
        got = dvx.get("data", rev=rev, repo=history)
        on_disk = sorted(
            str(p.relative_to(got.parent)) for p in got.rglob("*") if p.is_file()
        )
        assert on_disk == sorted(e.path for e in files)
        for e in files:
            assert (got.parent / e.path).read_bytes() == cat(history, rev, e.path)
        assert dvx.get("data", rev=rev, repo=history) == got
        out = tmp_path / f"model-{rev}.bin"
        assert dvx.get("model.bin", rev=rev, repo=history, out=out) == out
        assert out.read_bytes() == model
        # The id is the pointer's, as `dvx id` prints it.
        assert dvx.id("data", rev=rev, repo=history) == run(
            history, "id", rev, "data"
        ).decode().strip()


def dvx_b3(data: bytes) -> str:
    try:
        import blake3  # type: ignore

        return blake3.blake3(data).hexdigest()
    except ImportError:
        return dvx_digest_via_cli(data)


def dvx_digest_via_cli(data: bytes) -> str:
    # b3sum is not always installed: `dvx ls --json` of a one-file repository says the same.
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        repo = new_repo(pathlib.Path(d) / "r")
        write(repo / "f.bin", data)
        run(repo, "add", "f.bin")
        return json.loads(run(repo, "ls", "--json", "f.bin"))["entries"][0]["digest"]


def test_ls_lists_what_the_cli_lists(history):
    import json

    for rev in ["v1", "v2", "v3"]:
        cli = json.loads(run(history, "ls", "--json", rev, "data"))["entries"]
        api = dvx.ls("data", rev=rev, repo=history)
        assert [(e.path, e.kind, e.size, e.digest) for e in api] == [
            (c["path"], c["kind"], c["size"], c.get("digest")) for c in cli
        ]
    top = dvx.ls("data", rev="v2", repo=history, recursive=False)
    assert {e.path for e in top} == {
        "data/part0", "data/part1", "data/part2", "data/part3", "data/new", "data/train.csv"
    }
    assert dvx.info("data/new", rev="v2", repo=history).kind == "dir"
    assert dvx.info("data/new/extra.txt", rev="v2", repo=history).size == 6000


def test_ls_orders_paths_as_the_cli_when_a_walk_would_not(tmp_path):
    # "a" is a folder and "a.txt", "a-b" its siblings: a depth-first walk gives a/x before
    # a.txt ('/' sorts after '.' and '-'), the listing must still be in path order.
    import json

    repo = new_repo(tmp_path / "r")
    for name in ["d/a/x", "d/a/y/z", "d/a.txt", "d/a-b/w", "d/a0", "d/b", "d/\u00e9t\u00e9.csv"]:
        write(repo / name, name.encode() * 3)
    run(repo, "add", "d")
    cli = json.loads(run(repo, "ls", "--json", "d"))["entries"]
    api = dvx.ls("d", repo=repo)
    assert [e.path for e in api] == [c["path"] for c in cli]
    assert [e.path for e in api] == sorted(e.path for e in api)
    assert [e.path for e in dvx.ls("d/a", repo=repo)] == ["d/a", "d/a/x", "d/a/y", "d/a/y/z"]
    assert [e.path for e in dvx.ls("d/a", repo=repo, recursive=False)] == ["d/a", "d/a/x", "d/a/y"]


def test_log_and_dataset_record_the_versions(history):
    log = dvx.log("data", repo=history)
    assert [v.message for v in log] == ["third", "second", "first"]
    assert log[0].id == dvx.id("data", rev="v3", repo=history)
    info = dvx.dataset("data", rev="v1", repo=history)
    assert info.commit == dvx.resolve("v1", repo=history)
    assert info.id == dvx.id("data", rev="v1", repo=history)
    assert info.files == len([e for e in dvx.ls("data", rev="v1", repo=history) if e.kind == "file"])
    assert info.remote is not None and info.remote.endswith("remote")
    assert info.repo == str(history.resolve())


def test_random_seeks_of_a_100_mb_file_match_its_bytes(tmp_path):
    repo = new_repo(tmp_path / "big")
    rng = random.Random(7)
    data = rng.randbytes(100 << 20)
    write(repo / "big.bin", data)
    run(repo, "add", "big.bin")
    commit(repo, "big")
    (repo / "big.bin").unlink()  # the reads come from the store, not the worktree
    with dvx.open("big.bin", rev="HEAD", repo=repo) as f:
        assert f.size == len(data)
        for _ in range(1000):
            off = rng.randrange(0, len(data) + 10)
            n = rng.choice([1, 17, 4096, 65_536, 1 << 20, 3 << 20])
            f.seek(off)
            assert f.read(n) == data[off : off + n]
            assert f.tell() == min(off + n, len(data)) if off < len(data) else off
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
    assert hashlib.sha256(dvx.read_bytes("big.bin", rev="HEAD", repo=repo)).digest() == (
        hashlib.sha256(data).digest()
    )


def clone(history, dest) -> pathlib.Path:
    git(history.parent, "clone", "-q", str(history), str(dest))
    return dest


def test_a_clone_reads_from_the_folder_remote_then_from_its_store(history, tmp_path):
    repo = clone(history, tmp_path / "clone")
    # An empty store: the reads must come from the remote.
    want = cat(history, "v1", "data/part2/f02.bin")
    assert dvx.read_bytes("data/part2/f02.bin", rev="v1", repo=repo) == want
    with dvx.Repo(repo).open("model.bin", rev="v2") as f:
        f.seek(1_000_000)
        assert f.read(100) == b"x" * 100
    listing = dvx.ls("data", rev="v2", repo=repo)
    # The remote goes away: what was read comes from the store without any request.
    remote = history.parent / "remote"
    moved = history.parent / "remote-away"
    remote.rename(moved)
    try:
        fresh = dvx.Repo(repo)
        assert fresh.read_bytes("data/part2/f02.bin", rev="v1") == want
        assert fresh.ls("data", rev="v2") == listing
        with fresh.open("model.bin", rev="v2") as f:
            f.seek(1_000_000)
            assert f.read(100) == b"x" * 100
        # ...and what was not read needs the remote, which says so.
        with pytest.raises(dvx.Error) as e:
            fresh.read_bytes("data/train.csv", rev="v3")
        assert isinstance(e.value, OSError)
    finally:
        moved.rename(remote)


def test_a_clone_reads_lazily_from_an_encrypted_remote(tmp_path, monkeypatch):
    """An encrypted folder remote: reads work with the passphrase; without it, or with a
    wrong one, they raise PassphraseError; a tampered pack raises CorruptDataError naming
    the file; nothing wrong is read."""
    repo = new_repo(tmp_path / "repo")
    remote = tmp_path / "remote"
    monkeypatch.setenv("DVX_PASSPHRASE", "py passphrase")
    rng = random.Random(21)
    data = rng.randbytes(700_000)
    write(repo / "data/blob.bin", data)
    write(repo / "data/rows.csv", b"".join(b"%d,%d\n" % (i, i * 3) for i in range(5_000)))
    run(repo, "add", "data")
    run(repo, "remote", "add", "vault", str(remote), "--encrypt")
    commit(repo, "v1")
    run(repo, "push")
    want_csv = cat(repo, "HEAD", "data/rows.csv")

    c = clone(repo, tmp_path / "clone")
    monkeypatch.setenv("DVX_PASSPHRASE", "zebra-quartz-7")
    with pytest.raises(dvx.PassphraseError) as e:
        dvx.read_bytes("data/blob.bin", repo=c)
    assert e.value.kind == "wrong_passphrase" and "zebra-quartz-7" not in str(e.value)
    monkeypatch.delenv("DVX_PASSPHRASE")
    with pytest.raises(dvx.PassphraseError) as e:
        dvx.read_bytes("data/blob.bin", repo=c)
    assert e.value.kind == "passphrase_required" and "DVX_PASSPHRASE" in str(e.value)

    monkeypatch.setenv("DVX_PASSPHRASE", "py passphrase")
    r = dvx.Repo(c)
    with r.open("data/blob.bin") as f:
        f.seek(300_000)
        assert f.read(1000) == data[300_000:301_000]
    assert dvx.read_bytes("data/rows.csv", repo=c) == want_csv

    # Every pack altered: what was not read yet cannot be read, and says which file.
    c2 = clone(repo, tmp_path / "clone2")
    for p in (remote / "packs").rglob("*.pack"):
        b = bytearray(p.read_bytes())
        for i in range(100, len(b) - 100, 4096):
            b[i] ^= 1
        p.write_bytes(bytes(b))
    with pytest.raises(dvx.CorruptDataError) as e:
        dvx.read_bytes("data/blob.bin", repo=c2)
    assert "data/blob.bin" in str(e.value) and "fails authentication" in str(e.value)


def s3_env():
    keys = ["DVX_TEST_S3_ENDPOINT", "DVX_TEST_S3_BUCKET", "DVX_TEST_S3_ACCESS_KEY",
            "DVX_TEST_S3_SECRET_KEY"]
    if not all(os.environ.get(k) for k in keys):
        if os.environ.get("CI") == "true":
            pytest.fail("no S3 test server under CI: run scripts/s3-server.sh start and eval its env")
        pytest.skip("no S3 test server: eval \"$(scripts/s3-server.sh env)\" to run this")
    return {
        "AWS_ENDPOINT_URL": os.environ["DVX_TEST_S3_ENDPOINT"],
        "AWS_ACCESS_KEY_ID": os.environ["DVX_TEST_S3_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": os.environ["DVX_TEST_S3_SECRET_KEY"],
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }, os.environ["DVX_TEST_S3_BUCKET"]


def test_a_clone_reads_from_an_s3_remote_then_from_its_store(tmp_path, monkeypatch):
    env, bucket = s3_env()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    repo = new_repo(tmp_path / "s3repo")
    rng = random.Random(3)
    data = {f"d/{i}.bin": rng.randbytes(rng.randrange(1000, 3_000_000)) for i in range(6)}
    for p, b in data.items():
        write(repo / p, b)
    run(repo, "add", "d")
    run(repo, "remote", "add", "origin", f"s3://{bucket}/py-{uuid.uuid4().hex}")
    commit(repo, "s3")
    run(repo, "push")
    other = clone(repo, tmp_path / "s3clone")
    assert dvx.read_bytes("d/0.bin", repo=other, rev="HEAD") == data["d/0.bin"]
    with dvx.open("d/1.bin", repo=other, rev="HEAD") as f:
        f.seek(500)
        assert f.read(400) == data["d/1.bin"][500:900]
    # No server: a fresh handle still reads what came over, from the store.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    fresh = dvx.Repo(other)
    assert fresh.read_bytes("d/0.bin", rev="HEAD") == data["d/0.bin"]
    with fresh.open("d/1.bin", rev="HEAD") as f:
        f.seek(500)
        assert f.read(400) == data["d/1.bin"][500:900]
    with pytest.raises(dvx.RemoteError):
        fresh.read_bytes("d/5.bin", rev="HEAD")


def test_each_error_kind_raises_its_exception(history, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        dvx.read_bytes("data/no-such-file", rev="v1", repo=history)
    assert isinstance(e.value, dvx.NotFoundError) and e.value.kind == "no_such_path"
    assert "no-such-file" in str(e.value)
    with pytest.raises(FileNotFoundError):
        dvx.open("nothing-tracked-here.csv", repo=history)
    with pytest.raises(ValueError) as e:
        dvx.read_bytes("data/train.csv", rev="no-such-rev", repo=history)
    assert isinstance(e.value, dvx.RevisionError) and e.value.kind == "unknown_revision"
    with pytest.raises(IsADirectoryError):
        dvx.open("data/part0", rev="v1", repo=history)
    with pytest.raises(FileNotFoundError):
        dvx.Repo(tmp_path / "no-such-dir")
    (tmp_path / "not-a-repo").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        dvx.Repo(tmp_path / "not-a-repo")
    assert e.value.kind == "not_a_repository"
    # Corrupt data: every pack byte of a copy's store flipped in the middle.
    copy = tmp_path / "corrupt"
    shutil.copytree(history, copy)
    for pack in (copy / ".dvx/store").rglob("*.pack"):
        b = bytearray(pack.read_bytes())
        for i in range(64, len(b) - 64, 4096):
            b[i] ^= 0xFF
        pack.write_bytes(bytes(b))
    with pytest.raises(dvx.CorruptDataError) as e:
        dvx.read_bytes("model.bin", rev="v1", repo=copy)
    assert isinstance(e.value, OSError) and e.value.kind == "corrupt_object"
    # A remote that cannot be reached.
    other = clone(history, tmp_path / "unreachable")
    run(other, "remote", "add", "--default", "dead", "s3://bucket/prefix")
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(dvx.RemoteError) as e:
            dvx.Repo(other).read_bytes("model.bin", rev="v1")
        assert isinstance(e.value, OSError) and e.value.kind.startswith("remote_")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_files_and_repos_pickle(history):
    want = cat(history, "v2", "model.bin")
    f = dvx.open("model.bin", rev="v2", repo=history)
    f.seek(12_345)
    g = pickle.loads(pickle.dumps(f))
    assert g.tell() == 12_345
    assert g.read() == want[12_345:]
    assert f.read(10) == want[12_345:12_355]
    t = dvx.open("data/train.csv", rev="v1", repo=history, mode="r")
    u = pickle.loads(pickle.dumps(t))
    assert u.read() == cat(history, "v1", "data/train.csv").decode()
    r = pickle.loads(pickle.dumps(dvx.Repo(history)))
    assert r.read_bytes("model.bin", rev="v2") == want
    e = pickle.loads(pickle.dumps(dvx.ls("data", rev="v1", repo=history)))
    assert e == dvx.ls("data", rev="v1", repo=history)


def test_eight_threads_read_at_once(history):
    files = [e.path for e in dvx.ls("data", rev="v2", repo=history) if e.kind == "file"]
    want = {p: cat(history, "v2", p) for p in files}
    shared = dvx.Repo(history)
    model = cat(history, "v1", "model.bin")

    def work(i):
        out = []
        for p in files[i::8]:
            out.append(shared.read_bytes(p, rev="v2") == want[p])
        with shared.open("model.bin", rev="v1") as f:
            f.seek(i * 1000)
            out.append(f.read(300_000) == model[i * 1000 : i * 1000 + 300_000])
        return all(out)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


def _digest_of(f) -> str:
    return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads(history, tmp_path):
    want = cat(history, "v1", "model.bin")
    repo = clone(history, tmp_path / "forked")  # reads go through the remote
    f = dvx.open("model.bin", rev="v1", repo=repo)
    f.read(10)  # the parent has used its remote connection
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        got = pool.map(_digest_of, [dvx.open("model.bin", rev="v1", repo=repo) for _ in range(2)])
    assert got == [hashlib.sha256(want).hexdigest()] * 2
    # A child using the handle it inherited, on data its store lacks.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ok = dvx.read_bytes("data/train.csv", rev="v3", repo=repo) == cat(
                history, "v3", "data/train.csv"
            )
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1" and status == 0


def test_operations_return_typed_reports(history, tmp_path):
    repo = clone(history, tmp_path / "ops")
    r = dvx.Repo(repo)
    pulled = r.pull(paths=["data"])
    assert isinstance(pulled, dvx.TransferReport) and pulled.checkout is not None
    assert (repo / "data/train.csv").read_bytes() == cat(history, "v3", "data/train.csv")
    assert r.status().datasets[0].state in ("clean", "missing")
    write(repo / "data/added.txt", b"new\n")
    st = r.status(["data"])
    assert not st.clean and "data/added.txt" in st.datasets[0].added
    added = r.add(["data"], message="from python")
    assert isinstance(added, dvx.AddReport) and added.datasets[0].path == "data"
    assert r.status(["data"]).clean
    fetched = r.fetch(["v1"], ["data"])
    assert fetched.chunks > 0
    co = r.checkout("v1", ["data"])
    assert isinstance(co, dvx.CheckoutReport)
    assert not (repo / "data/added.txt").exists()
    assert r.id("data") == dvx.id("data", rev="v1", repo=history)
    with pytest.raises(dvx.UnsavedChangesError):
        write(repo / "data/train.csv", b"unsaved")
        r.checkout("v3", ["data"])


def test_a_repository_named_by_url_is_read_through_the_source_cache(history, tmp_path, monkeypatch):
    monkeypatch.setenv("DVX_CACHE_DIR", str(tmp_path / "cache"))
    url = "file://" + str(history)
    # Listing needs the trees only; reading one file needs its chunks only.
    assert len(dvx.ls("data", rev="v1", repo=url)) == len(dvx.ls("data", rev="v1", repo=history))
    packs = lambda: sum(p.stat().st_size for p in (tmp_path / "cache/store").rglob("*.pack"))
    assert packs() == 0
    assert dvx.read_bytes("data/new/extra.txt", rev="v2", repo=url) == b"hello\n" * 1000
    assert 0 < packs() < 200_000
    for rev in ["v1", "v3"]:
        assert dvx.read_bytes("data/train.csv", rev=rev, repo=url) == cat(history, rev, "data/train.csv")
        assert dvx.id("data", rev=rev, repo=url) == dvx.id("data", rev=rev, repo=history)
        assert [e.path for e in dvx.ls("data/part1", rev=rev, repo=url)] == [
            e.path for e in dvx.ls("data/part1", rev=rev, repo=history)
        ]
    r = dvx.Repo(url)
    assert r.resolve("v2") == dvx.resolve("v2", repo=history)
    with r.open("model.bin", rev="v2") as f:
        f.seek(1_000_000)
        assert f.read(100) == b"x" * 100
    got = r.get("data/new", rev="v2")
    assert (got / "extra.txt").read_bytes() == b"hello\n" * 1000
    assert r.dataset("data", rev="v1").repo == url
    with pytest.raises(dvx.InvalidArgumentError):
        r.add(["data"])


def test_offline_reads_only_what_the_store_holds_and_get_copies_are_read_only(history, tmp_path):
    repo = clone(history, tmp_path / "offline")
    online = dvx.Repo(repo)
    want = cat(history, "v1", "data/part0/f00.bin")
    assert online.read_bytes("data/part0/f00.bin", rev="v1") == want
    offline = dvx.Repo(repo, offline=True)
    assert offline.read_bytes("data/part0/f00.bin", rev="v1") == want
    with pytest.raises(dvx.MissingDataError):
        offline.read_bytes("data/train.csv", rev="v1")
    with pytest.raises(dvx.MissingDataError):
        offline.ls("data", rev="v3")
    got = online.get("data/part0", rev="v1")
    f = next(p for p in got.rglob("*") if p.is_file())
    assert not os.access(f, os.W_OK) or os.geteuid() == 0
    assert f.stat().st_mode & 0o222 == 0
