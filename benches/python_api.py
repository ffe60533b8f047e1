#!/usr/bin/env python3
"""Benchmark of the `dvx` Python module, side by side with plain files and with DVC's API.

    python benches/python_api.py                 # with the Python that has dvx installed
    python benches/python_api.py --quick         # a smoke run (32 MiB, 2,000 files)
    python benches/python_api.py --json out.json

Run it with an interpreter where the `dvx` module is installed from a release build
(`maturin develop --release`, or the wheel). DVC runs in its own venv (`--dvc-python`; default
`<workdir>/.venv-dvc/bin/python`, pip-installed there when missing) through a small script in
a subprocess, so neither tool's imports touch the other.

What it measures (issue 13's targets), every number the median of `--repeat` runs:

| measure | dvx | baseline | target |
|---|---|---|---|
| read a 256 MiB file | `dvx.open(p).read()` from the local store | `open(p, "rb").read()` of the checked-out file | dvx speed >= 0.8x |
| 1,000 random 1 MiB reads | seek+read on `dvx.open(p)` | seek+read on `open(p, "rb")` | dvx time <= 2x |
| one file of an older revision | `dvx.read_bytes(p, rev="v1", repo=r)` | `dvc.api.read(p, repo=r, rev="v1", mode="rb")` | dvx <= 1/5 of DVC |
| listing a 20,000-file dataset | `dvx.ls("many", rev="v1", repo=r)` | `DVCFileSystem(r, rev="v1").find("many")` | dvx <= 1/10 of DVC |
| `import dvx` | `python -c "import dvx"` minus `python -c pass` | - | < 100 ms |

The revision read and the listing are timed in fresh processes for each tool (the first call,
which opens the repository, is what a script pays; the best of three later calls is reported
too), the median of `--repeat` processes after one untimed run. The page cache is warm for both
sides, and both have their bytecode cached (as after a pip install).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 1 << 20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, cwd=None, env=None, capture=True) -> str:
    p = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=capture, text=True,
        stdin=subprocess.DEVNULL,
    )
    if p.returncode != 0:
        raise SystemExit(
            f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}"
        )
    return p.stdout


def git_env(workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@dvx.invalid", GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@dvx.invalid", DVX_CACHE_DIR=str(workdir / "dvx-cache"),
        DVC_SITE_CACHE_DIR=str(workdir / "dvc-site-cache"), DVC_NO_ANALYTICS="1",
    )
    env.pop("DVX_STORE", None)
    return env


# --- data


def generate(src: Path, seed: int, big_mib: int, small_files: int, csv_mib: int) -> dict:
    """Writes v1 into src/ and returns what v2 changes: {path: bytes}."""
    rng = random.Random(seed)
    (src / "big").mkdir(parents=True)
    with open(src / "big" / "big.bin", "wb") as f:
        r = random.Random(rng.getrandbits(64))
        for _ in range(big_mib):
            f.write(r.randbytes(MIB))
    r = random.Random(rng.getrandbits(64))
    for i in range(small_files):
        d = src / "many" / f"d{i % 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(r.randbytes(r.randint(64, 2048)))
    r = random.Random(rng.getrandbits(64))
    stations = ["alpha", "bravo", "charlie", "delta", "echo"]
    (src / "tables").mkdir()
    rows = []
    size = 0
    i = 0
    while size < csv_mib * MIB:
        row = f"{i},{1_700_000_000_000 + i},{r.choice(stations)},{r.uniform(-20, 40):.3f},{r.uniform(0, 100):.2f}\n"
        rows.append(row)
        size += len(row)
        i += 1
    header = "id,ts,station,temperature,humidity\n"
    (src / "tables" / "train.csv").write_text(header + "".join(rows))
    for at in r.sample(range(len(rows)), 50):
        rows[at] = f"{at},0,edited,{r.uniform(-20, 40):.3f},0\n"
    return {"tables/train.csv": (header + "".join(rows)).encode()}


def build_dvx_repo(repo: Path, src: Path, v2: dict, dvx: str, env: dict) -> None:
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([dvx, "init"], repo, env)
    for d in ("big", "many", "tables"):
        shutil.copytree(src / d, repo / d)
        run([dvx, "add", d, "-m", f"{d} v1"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "v1"], repo, env)
    run(["git", "tag", "v1"], repo, env)
    for p, data in v2.items():
        (repo / p).write_bytes(data)
    run([dvx, "add", "tables", "-m", "tables v2"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "v2"], repo, env)
    run(["git", "tag", "v2"], repo, env)


def build_dvc_repo(repo: Path, src: Path, v2: dict, dvc: str, env: dict) -> None:
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([dvc, "init", "-q"], repo, env)
    run([dvc, "config", "core.analytics", "false"], repo, env)
    run([dvc, "config", "core.check_update", "false"], repo, env)
    for d in ("big", "many", "tables"):
        shutil.copytree(src / d, repo / d)
    run([dvc, "add", "-q", "big", "many", "tables"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "v1"], repo, env)
    run(["git", "tag", "v1"], repo, env)
    for p, data in v2.items():
        (repo / p).write_bytes(data)
    run([dvc, "add", "-q", "tables"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "v2"], repo, env)
    run(["git", "tag", "v2"], repo, env)


def ensure_dvc(workdir: Path, given: str | None) -> str | None:
    if given:
        return given
    py = workdir / ".venv-dvc" / "bin" / "python"
    if py.exists():
        return str(py)
    log(f"installing DVC into {py.parent.parent} (pip, a few minutes)")
    run([sys.executable, "-m", "venv", workdir / ".venv-dvc"])
    run([py, "-m", "pip", "install", "-q", "dvc"])
    return str(py)


# --- the timed parts that run in a fresh process


DVX_PROBE = textwrap.dedent(
    """
    import json, sys, time
    repo, what, path, rev = sys.argv[1:5]
    t0 = time.perf_counter()
    import dvx
    t_import = time.perf_counter() - t0
    def once():
        t = time.perf_counter()
        if what == "read":
            out = len(dvx.read_bytes(path, rev=rev, repo=repo))
        else:
            out = sum(1 for e in dvx.ls(path, rev=rev, repo=repo) if e.kind == "file")
        return time.perf_counter() - t, out
    first, n = once()
    later = [once()[0] for _ in range(3)]
    print(json.dumps({"import": t_import, "first": first, "best": min(later), "result": n}))
    """
)

DVC_PROBE = textwrap.dedent(
    """
    import json, sys, time
    repo, what, path, rev = sys.argv[1:5]
    t0 = time.perf_counter()
    import dvc.api
    from dvc.api import DVCFileSystem
    t_import = time.perf_counter() - t0
    def once():
        t = time.perf_counter()
        if what == "read":
            out = len(dvc.api.read(path, repo=repo, rev=rev, mode="rb"))
        else:
            fs = DVCFileSystem(repo, rev=rev)
            out = len(fs.find(path, detail=False))
        return time.perf_counter() - t, out
    first, n = once()
    later = [once()[0] for _ in range(3)]
    print(json.dumps({"import": t_import, "first": first, "best": min(later), "result": n}))
    """
)


def probe(python: str, script: str, args: list, env: dict, cwd: Path, runs: int) -> dict:
    """The probe in `runs` fresh processes after one untimed run (which leaves both tools'
    bytecode cached, as a pip install does, and the page cache warm): the median of each
    number."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = []
    for _ in range(runs + 1):
        out = run([python, "-c", script, *args], cwd=cwd, env=env)
        samples.append(json.loads(out.strip().splitlines()[-1]))
    samples = samples[1:]
    med = {k: statistics.median(s[k] for s in samples) for k in ("import", "first", "best")}
    return {**med, "result": samples[0]["result"], "runs": samples}


# --- in-process reads


def time_it(fn, repeat: int) -> list:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def measure_reads(repo: Path, big: str, repeat: int, n_random: int, seed: int) -> dict:
    import dvx

    checked_out = repo / big
    size = checked_out.stat().st_size

    def dvx_read():
        with dvx.open(big, repo=str(repo)) as f:
            assert len(f.read()) == size

    def file_read():
        with open(checked_out, "rb") as f:
            assert len(f.read()) == size

    # Warm both (page cache, the repository handle), then interleave.
    dvx_read()
    file_read()
    t_dvx, t_file = [], []
    for _ in range(repeat):
        t_file += time_it(file_read, 1)
        t_dvx += time_it(dvx_read, 1)

    rng = random.Random(seed)
    offsets = [rng.randrange(0, size - MIB) for _ in range(n_random)]

    def random_reads(f):
        for off in offsets:
            f.seek(off)
            if len(f.read(MIB)) != MIB:
                raise SystemExit("short read")

    r_dvx, r_file = [], []
    for _ in range(repeat):
        with open(checked_out, "rb") as f:
            r_file += time_it(lambda: random_reads(f), 1)
        with dvx.open(big, repo=str(repo)) as f:
            r_dvx += time_it(lambda: random_reads(f), 1)
    # Same bytes, at a few offsets.
    with dvx.open(big, repo=str(repo)) as f, open(checked_out, "rb") as g:
        for off in offsets[:20]:
            f.seek(off)
            g.seek(off)
            if f.read(MIB) != g.read(MIB):
                raise SystemExit(f"dvx.open read different bytes at offset {off}")
    return {"size": size, "read_dvx": t_dvx, "read_file": t_file, "random_dvx": r_dvx, "random_file": r_file}


def measure_import(python: str, repeat: int, env: dict) -> dict:
    # Bytecode cached, as after a pip install (the first run below writes it if missing).
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run([python, "-c", "import dvx._repo, dvx._io, dvx._types"], env=env)

    def wall(code):
        out = []
        for _ in range(repeat):
            t = time.perf_counter()
            run([python, "-c", code], env=env)
            out.append(time.perf_counter() - t)
        return out

    base = wall("pass")
    full = wall("import dvx")
    # -X importtime's cumulative time of the `dvx` package (microseconds), best of the runs.
    cumulative = []
    for _ in range(repeat):
        p = subprocess.run([python, "-X", "importtime", "-c", "import dvx"], capture_output=True, text=True, env=env)
        for line in p.stderr.splitlines():
            parts = [x.strip() for x in line.split("|")]
            if len(parts) == 3 and parts[2] == "dvx":
                cumulative.append(int(parts[1]) / 1e6)
    return {"python_pass": base, "python_import_dvx": full, "importtime_dvx": cumulative}


# --- report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=HERE / "work-python")
    ap.add_argument("--quick", action="store_true", help="32 MiB file, 2,000 small files")
    ap.add_argument("--big-mib", type=int, help="size of the big file (default 256)")
    ap.add_argument("--small-files", type=int, help="files of the listed dataset (default 20000)")
    ap.add_argument("--csv-mib", type=int, default=16, help="size of the CSV read at v1")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--random-reads", type=int, default=1000)
    ap.add_argument("--dvx", help="dvx command (default: the one next to this Python, then PATH)")
    ap.add_argument("--dvc-python", help="Python of a venv with dvc (default: <workdir>/.venv-dvc)")
    ap.add_argument("--no-dvc", action="store_true", help="skip the DVC comparisons")
    ap.add_argument("--keep", action="store_true", help="reuse the repositories of a previous run")
    ap.add_argument("--build-only", action="store_true", help="build the repositories, measure nothing")
    ap.add_argument("--json", type=Path, help="write every raw number here")
    a = ap.parse_args()
    big_mib = a.big_mib or (32 if a.quick else 256)
    small = a.small_files or (2000 if a.quick else 20000)

    import dvx

    dvx_cmd = a.dvx or shutil.which("dvx", path=os.path.dirname(sys.executable)) or shutil.which("dvx")
    if not dvx_cmd:
        raise SystemExit("no dvx command: install the dvx wheel into this Python, or pass --dvx")
    w = a.workdir.resolve()
    w.mkdir(parents=True, exist_ok=True)
    env = git_env(w)
    dvx_repo, dvc_repo = w / "repo-dvx", w / "repo-dvc"
    stamp = w / f"built-{a.seed}-{big_mib}-{small}-{a.csv_mib}"
    if not (a.keep and stamp.exists()):
        for d in (dvx_repo, dvc_repo, w / "src", w / "dvx-cache", w / "dvc-site-cache"):
            shutil.rmtree(d, ignore_errors=True)
        for s in w.glob("built-*"):
            s.unlink()
        log(f"generating {big_mib} MiB + {small} files + {a.csv_mib} MiB CSV (seed {a.seed})")
        v2 = generate(w / "src", a.seed, big_mib, small, a.csv_mib)
        log("building the dvx repository")
        build_dvx_repo(dvx_repo, w / "src", v2, dvx_cmd, env)
        if not a.no_dvc:
            dvc_py = ensure_dvc(w, a.dvc_python)
            dvc = str(Path(dvc_py).parent / "dvc")
            log("building the DVC repository")
            build_dvc_repo(dvc_repo, w / "src", v2, dvc, env)
        shutil.rmtree(w / "src")
        stamp.touch()
    if a.build_only:
        return 0
    os.environ.update({k: env[k] for k in ("DVX_CACHE_DIR",)})

    results: dict = {"dvx_version": dvx.__version__, "big_mib": big_mib, "small_files": small,
                     "csv_mib": a.csv_mib, "seed": a.seed, "repeat": a.repeat,
                     "loadavg_start": os.getloadavg()}
    log("reading the big file (dvx.open vs open)")
    results["reads"] = measure_reads(dvx_repo, "big/big.bin", a.repeat, a.random_reads, a.seed)
    log("import time")
    results["import"] = measure_import(sys.executable, max(5, a.repeat), env)
    log("dvx: older revision read and listing (fresh processes)")
    results["dvx_read_v1"] = probe(sys.executable, DVX_PROBE, [dvx_repo, "read", "tables/train.csv", "v1"], env, w, a.repeat)
    results["dvx_ls"] = probe(sys.executable, DVX_PROBE, [dvx_repo, "ls", "many", "v1"], env, w, a.repeat)
    if results["dvx_ls"]["result"] != small:
        raise SystemExit(f"dvx.ls listed {results['dvx_ls']['result']} files, not {small}")
    if not a.no_dvc:
        dvc_py = ensure_dvc(w, a.dvc_python)
        log("DVC: older revision read and listing (fresh processes)")
        results["dvc_read_v1"] = probe(dvc_py, DVC_PROBE, [dvc_repo, "read", "tables/train.csv", "v1"], env, w, a.repeat)
        results["dvc_ls"] = probe(dvc_py, DVC_PROBE, [dvc_repo, "ls", "many", "v1"], env, w, a.repeat)
        results["dvc_version"] = run([dvc_py, "-c", "import dvc; print(dvc.__version__)"], env=env).strip()
        if results["dvc_read_v1"]["result"] != results["dvx_read_v1"]["result"]:
            raise SystemExit("dvc and dvx read different sizes of tables/train.csv at v1")
        if results["dvc_ls"]["result"] != small:
            raise SystemExit(f"DVCFileSystem.find listed {results['dvc_ls']['result']} files, not {small}")
    results["loadavg_end"] = os.getloadavg()

    rows = report(results)
    results["table"] = rows
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


def report(r: dict) -> list:
    med = statistics.median
    rd = r["reads"]
    size_mib = rd["size"] / MIB
    rows = []

    def row(name, dvx_s, base_s, base_name, ratio, target, ok, note=""):
        rows.append({"measure": name, "dvx_s": dvx_s, "baseline": base_name, "baseline_s": base_s,
                     "ratio": ratio, "target": target, "pass": ok, "note": note})

    t_dvx, t_file = med(rd["read_dvx"]), med(rd["read_file"])
    speed = t_file / t_dvx
    row(f"read {size_mib:.0f} MiB file", t_dvx, t_file, "open().read()", speed, "speed >= 0.8x", speed >= 0.8,
        f"{size_mib / t_dvx:.0f} vs {size_mib / t_file:.0f} MiB/s")
    t_dvx, t_file = med(rd["random_dvx"]), med(rd["random_file"])
    row("1,000 random 1 MiB reads", t_dvx, t_file, "open() seek+read", t_dvx / t_file, "time <= 2x", t_dvx / t_file <= 2)
    if "dvc_read_v1" in r:
        d, c = r["dvx_read_v1"]["first"], r["dvc_read_v1"]["first"]
        row(f"read a {r['csv_mib']} MiB file at v1 (first call)", d, c, "dvc.api.read", d / c, "<= 1/5 (0.2)", d / c <= 0.2,
            f"best later: {r['dvx_read_v1']['best']:.4f} vs {r['dvc_read_v1']['best']:.4f}")
        d, c = r["dvx_ls"]["first"], r["dvc_ls"]["first"]
        row(f"list {r['small_files']:,} files at v1 (first call)", d, c, "DVCFileSystem.find", d / c, "<= 1/10 (0.1)", d / c <= 0.1,
            f"best later: {r['dvx_ls']['best']:.4f} vs {r['dvc_ls']['best']:.4f}")
    imp = r["import"]
    cum = min(imp["importtime_dvx"]) if imp["importtime_dvx"] else float("nan")
    wall = med(imp["python_import_dvx"]) - med(imp["python_pass"])
    row("import dvx", cum, None, "-", None, "< 100 ms", cum < 0.1, f"-X importtime; wall minus `python -c pass`: {wall * 1000:.1f} ms")

    print(f"dvx {r['dvx_version']}" + (f", DVC {r['dvc_version']}" if "dvc_version" in r else "")
          + f"; load average {r['loadavg_start'][0]:.2f} -> {r['loadavg_end'][0]:.2f}")
    print()
    print("| measure | dvx s | baseline | baseline s | ratio | target | result | note |")
    print("|---|---|---|---|---|---|---|---|")
    for x in rows:
        base = "-" if x["baseline_s"] is None else f"{x['baseline_s']:.4f}"
        ratio = "-" if x["ratio"] is None else f"{x['ratio']:.3f}"
        print(f"| {x['measure']} | {x['dvx_s']:.4f} | {x['baseline']} | {base} | {ratio} | {x['target']} | "
              f"{'PASS' if x['pass'] else 'FAIL'} | {x['note']} |")
    return rows


if __name__ == "__main__":
    sys.exit(main())
