"""A Python process using the dvx module counts as a running dvx: its temporary files and
locks are not taken for leftovers of a dead one (the module is not a program named dvx)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from test_api import new_repo, run, write


def test_a_temporary_file_of_a_live_python_dvx_is_left_alone(tmp_path):
    repo = new_repo(tmp_path / "repo")
    write(repo / "data/a.bin", b"a" * 1000)
    run(repo, "add", "data")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import dvx, sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"ready"
        live = repo / "data" / f".dvx-tmp-{holder.pid}-0-0"
        not_dvx = repo / "data" / f".dvx-tmp-{other.pid}-0-0"
        live.write_bytes(b"half-written")
        not_dvx.write_bytes(b"left by a dead dvx whose pid was reused")
        run(repo, "status")
        assert live.exists(), "a live Python dvx's temporary file was removed"
        assert not not_dvx.exists(), "a pid reused by another program kept a leftover alive"
    finally:
        holder.stdin.close()
        holder.wait()
        other.stdin.close()
        other.wait()
    time.sleep(0.1)
    run(repo, "status")
    assert not live.exists(), "the leftover of a Python dvx that ended stays"
    assert sorted(os.listdir(repo / "data")) == ["a.bin"]
