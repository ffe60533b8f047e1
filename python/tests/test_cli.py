"""The `dvx` command the wheel installs: the README demo, the version, exit codes, a closed
pipe and Ctrl-C behave as with the cargo-built binary.

The command under test is the one pip put next to this interpreter (the venv's `bin/dvx`),
not whatever `dvx` comes first on PATH. With DVX_REFERENCE_BIN set (.ci/run sets it to the
cargo-built `target/debug/dvx`), the read commands' output is compared byte for byte.
"""

from __future__ import annotations

import os
import pathlib
import random
import select
import signal
import subprocess
import sys
import sysconfig

import pytest

import dvx

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = pathlib.Path(sysconfig.get_path("scripts"))
DVX = SCRIPTS / ("dvx.exe" if os.name == "nt" else "dvx")


def run(args, cwd=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def installed() -> pathlib.Path:
    assert DVX.is_file(), f"{DVX} missing: install the wheel into this interpreter's environment"
    # The console script pip writes, not a copy of the binary.
    assert DVX.read_bytes()[:2] == b"#!", f"{DVX} is not the wheel's console script"
    return DVX


@pytest.fixture
def repo(tmp_path, installed) -> pathlib.Path:
    """A git repository with one dataset of two files, committed twice (seeded data)."""
    rng = random.Random(13)
    r = tmp_path / "repo"
    r.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    run(git + ["init", "-q", "-b", "main"], cwd=r).check_returncode()
    (r / "data").mkdir()
    (r / "data" / "a.bin").write_bytes(rng.randbytes(3 << 20))
    (r / "data" / "b.csv").write_text("".join(f"{i},{rng.random()}\n" for i in range(1000)))
    for args in (["init"], ["add", "data", "-m", "v1"]):
        p = run([str(installed), *args], cwd=r)
        assert p.returncode == 0, p.stderr.decode()
    run(git + ["add", "-A"], cwd=r).check_returncode()
    run(git + ["commit", "-qm", "v1"], cwd=r).check_returncode()
    (r / "data" / "b.csv").write_text("edited\n")
    p = run([str(installed), "add", "data", "-m", "v2"], cwd=r)
    assert p.returncode == 0, p.stderr.decode()
    run(git + ["add", "-A"], cwd=r).check_returncode()
    run(git + ["commit", "-qm", "v2"], cwd=r).check_returncode()
    return r


def test_readme_demo(installed, tmp_path):
    env = dict(os.environ, DVX=str(installed), TMPDIR=str(tmp_path))
    p = run(["bash", str(ROOT / "scripts" / "demo.sh")], env=env)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    # The wheel's command ran it (no cargo build), and the restored data has v1's id.
    assert f"== using DVX={installed} (dvx {dvx._core.version()})" in out
    assert "cargo build" not in out
    assert "== the id is v1's again: the data is byte-identical" in out
    assert "== data is v1 again" in out
    assert "demo OK" in out


def test_version_is_the_modules(installed):
    for cmd in ([str(installed)], [sys.executable, "-m", "dvx"]):
        p = run(cmd + ["--version"])
        assert p.returncode == 0
        assert p.stdout.decode() == f"dvx {dvx._core.version()}\n"
        assert p.stderr == b""
    assert dvx.__version__ == dvx._core.version()


def test_usage_error_exits_2(installed):
    for cmd in ([str(installed)], [sys.executable, "-m", "dvx"]):
        p = run(cmd + ["--no-such-option"])
        assert p.returncode == 2
        assert p.stdout == b""
        assert b"error:" in p.stderr
        assert b"Traceback" not in p.stderr


def test_failure_exit_codes_and_messages(installed, repo):
    # README "Exit codes": a path no dataset holds is a usage error (2) ...
    p = run([str(installed), "cat", "HEAD:data/none.bin"], cwd=repo)
    assert p.returncode == 2, p
    assert p.stdout == b""
    assert p.stderr.startswith(b"error: no dataset holds path data/none.bin")
    # ... data that is not the recorded version is an operation failure (1).
    (repo / "data" / "b.csv").write_text("edited again\n")
    p = run([str(installed), "id", "data"], cwd=repo)
    assert p.returncode == 1, p
    assert p.stdout == b""
    assert p.stderr.startswith(b"error: ")
    assert b"Traceback" not in p.stderr


def test_stdout_and_stdin_are_the_process(installed, repo):
    p = run([str(installed), "cat", "HEAD~1:data/a.bin"], cwd=repo)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == random.Random(13).randbytes(3 << 20)


def test_closed_pipe_ends_quietly(installed, repo):
    # `dvx cat ... | head -c 1`: the reader goes away with 3 MiB unwritten.
    p = subprocess.run(
        f"'{installed}' cat HEAD:data/a.bin | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
        shell=True, executable="bash", cwd=repo, capture_output=True, timeout=60,
    )
    assert p.stdout.decode().strip() == "0"
    assert p.stderr == b""


def test_ctrl_c_ends_the_command_as_the_binary(installed, repo):
    # The command blocks writing 3 MiB to a pipe nobody reads; SIGINT then ends the process
    # by the signal, as it ends the compiled binary (no KeyboardInterrupt traceback).
    proc = subprocess.Popen([str(installed), "cat", "HEAD:data/a.bin"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Output has started: Rust is running, so the SIGINT disposition is set.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no output within 60 s"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert rc == -signal.SIGINT
    assert b"Traceback" not in proc.stderr.read()


def test_install_hooks_names_the_command(installed, repo):
    # The hooks run the wheel's `dvx`, not the interpreter that runs it.
    for cmd in ([str(installed)], [sys.executable, "-m", "dvx"]):
        p = run(cmd + ["install-hooks"], cwd=repo)
        assert p.returncode == 0, p.stderr.decode()
        hook = (repo / ".git" / "hooks" / "post-checkout").read_text()
        assert f"dvx='{installed}'" in hook.splitlines(), hook
    # And git runs them: a checkout of the older commit brings its data.
    p = run(["git", "checkout", "-q", "HEAD~1"], cwd=repo)
    assert p.returncode == 0, p.stderr.decode()
    assert (repo / "data" / "b.csv").read_text() != "edited\n"


READ_COMMANDS = [
    ["--version"],
    ["--help"],
    ["status"],
    ["ls", "data"],
    ["ls", "--json", "data"],
    ["id", "data"],
    ["log", "data"],
    ["diff", "HEAD~1", "HEAD", "data"],
    ["cat", "HEAD~1:data/b.csv"],
    ["cat", "HEAD:data/none.bin"],
    ["id", "data", "--no-such-option"],
    ["nosuchcommand"],
]


@pytest.mark.skipif(not os.environ.get("DVX_REFERENCE_BIN"),
                    reason="DVX_REFERENCE_BIN (a cargo-built dvx) not set")
def test_same_output_as_the_cargo_binary(installed, repo):
    reference = os.environ["DVX_REFERENCE_BIN"]
    for args in READ_COMMANDS:
        want = run([reference, *args], cwd=repo)
        got = run([str(installed), *args], cwd=repo)
        assert (got.returncode, got.stdout, got.stderr) == (
            want.returncode, want.stdout, want.stderr), args
