#!/usr/bin/env python3
"""dvx workflow benchmark: dvx vs DVC vs plain `cp -r` snapshots.

One command (run from anywhere; paths default relative to this file's repo):

    python3 benches/workflow.py                      # full run: ~1 GiB dataset, dvx,dvc,cp
    python3 benches/workflow.py --quick              # smoke test: 64 MB, 2,000 small files
    python3 benches/workflow.py --repeat 3           # median of 3 runs per step (noisy machines)
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
  3. Prints markdown tables (per-step time/RSS, ratios dvx/DVC and dvx/cp, store
     sizes, PASS/FAIL against the dvx targets) and writes raw numbers to --json.

Everything runs warm (page cache is NOT dropped) and sequentially.
The work dir is wiped at start (except .venv-dvc, where DVC gets pip-installed if no
`dvc` is found). Needs: python3 >= 3.11 (stdlib only), git, cp, rm; the dvx binary
(`cargo build --release` -> target/release/dvx); DVC (auto-installed from PyPI).
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import os
import platform
import random
import shutil
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
    for key in ("pointer_v1", "pointer_v2"):
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


def evaluate_targets(results: dict, changed: int) -> list[dict]:
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

    def add(name, measured, passed, step=None):
        targets.append({"target": name, "measured": measured, "pass": passed, "step": step})

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
        steps = results["dvx"]["steps"]
        worst = max(steps.items(), key=lambda kv: kv[1]["maxrss_kib"]) if steps else None
        if worst:
            mb = worst[1]["maxrss_kib"] / 1024
            add(f"peak RSS < {RSS_LIMIT_MB} MB for every dvx step", f"max {mb:.1f} MB ({worst[0]})",
                mb < RSS_LIMIT_MB)
    return targets


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
        short = next((v for k, v in SHORT.items() if tg["target"].startswith(k)), tg["target"])
        marks.append(f"{short}: " + ("n/a" if tg["pass"] is None else ("PASS" if tg["pass"] else "FAIL")))
    marks.append(f"RSS<{RSS_LIMIT_MB}MB: " + ("PASS" if d["maxrss_kib"] / 1024 < RSS_LIMIT_MB else "FAIL"))
    if not d["ok"]:
        marks.insert(0, "CMD FAILED")
    return ", ".join(marks)


def report(results: dict, tools: list[str], ds: dict) -> str:
    L = []
    changed = ds["changes"]["accounting"]["really_changed_bytes"]
    targets = evaluate_targets(results, changed)
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
    if targets:
        L.append("| dvx target | measured | result |")
        L.append("|---|---|---|")
        for tg in targets:
            res = "n/a (DVC not run)" if tg["pass"] is None else ("PASS" if tg["pass"] else "FAIL")
            L.append(f"| {tg['target']} | {tg['measured']} | {res} |")
        L.append("")
    fails = [(tl, key, run) for tl in tools for key, st in results.get(tl, {}).get("steps", {}).items()
             for run in st["runs"] if run["rc"] != 0]
    herr = [(tl, results[tl]["checks"]["harness_error"]) for tl in tools
            if "harness_error" in results.get(tl, {}).get("checks", {})]
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
    args = ap.parse_args()

    size_mb = args.size_mb or (64 if args.quick else 1024)
    small_files = args.small_files if args.small_files is not None else (2000 if args.quick else 20000)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ("dvx", "dvc", "cp")]
    if bad:
        ap.error(f"unknown tools {bad}")
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
    clean_workdir(wd, args.force_clean)
    log("cleaned")
    if "dvx" in exes:  # private copy: a concurrent `cargo build` must not swap the binary mid-run
        (wd / "bin").mkdir()
        shutil.copy2(exes["dvx"], wd / "bin" / "dvx")
        exes["dvx_source"] = exes["dvx"]
        exes["dvx"] = str(wd / "bin" / "dvx")
    if "dvc" in tools:
        exes["dvc"] = find_dvc(args, wd)

    free = shutil.disk_usage(wd).free
    need = size_mb * MiB * (2 + 3 * len(tools))
    if free < need:
        log(f"WARNING: {human(free)} free in {wd}, this run may need about {human(need)}")

    env = dict(os.environ)
    for k in ("DVX_STORE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    env.update(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(wd / "dvc-site-cache"),
               GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
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
           "changes": changes, "status_runs": max(1, args.status_runs)}

    versions = {"git": tool_version(["git", "--version"]), "python": sys.version.split()[0]}
    if "dvx" in exes:
        with open(exes["dvx"], "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]
        versions["dvx"] = f"{tool_version([exes['dvx'], '--version'])} (binary sha256 {digest}, " \
            f"copied from {exes['dvx_source']})"
    if "dvc" in exes:
        versions["dvc"] = tool_version([exes["dvc"], "--version"])
    per_rep = {tool: [] for tool in tools}
    for rep in range(args.repeat):
        for tool in tools:  # tools interleaved per repetition, so machine noise spreads over all
            log(f"=== {tool}" + (f" (repetition {rep + 1}/{args.repeat})" if args.repeat > 1 else "") + " ===")
            repo = wd / f"repo-{tool}"
            if repo.exists():  # previous repetition's repo (untimed)
                fast_rmtree(repo)
            try:
                per_rep[tool].append(workflow(tool, r, repo, ctx, exes.get(tool)))
            except Exception as e:  # noqa: BLE001 - keep going with the other tools
                log(f"  {tool}: harness error: {e!r}")
                per_rep[tool].append({"steps": {}, "checks": {"harness_error": repr(e)}, "store": {}})
    results = {tool: aggregate(reps) for tool, reps in per_rep.items()}
    ds["repeat"] = args.repeat

    r.close()
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
