#!/usr/bin/env python3
"""dvx scale benchmark (issue 15): millions of small files, time and peak memory per command.

    cargo build --release --bin dvx
    python3 benches/scale.py --n 100000 --tools dvx,dvc          # ~15 min, DVC most of it
    python3 benches/scale.py --n 100000,1000000 --tools dvx,dvc --json scale.json
    python3 benches/scale.py --n 1000 --tools dvx,dvc            # smoke test, seconds

Per N (details in benches/README.md): N files of 200-2,048 bytes (text-like lines and random
bytes, seeded) in round(sqrt(N)) folders; v2 rewrites 1% of them and adds 1%. Per tool, in a
fresh git repository: add v1 (+ git commit), no-op status, status after v2 is written, add v2
(+ git commit), checkout v1, checkout v2, ls --json, diff v1 v2, push of both versions to a
folder remote, git clone + pull from that remote. Every step's wall time, peak RSS (ru_maxrss
from wait4) and user/system CPU is recorded, and every result is checked (trees after checkout
and pull: file count, a hash over the sorted (path, size) list and the bytes of every changed
file plus a sample). DVC runs beside dvx only up to --dvc-max-n (default 100,000).
The work directories of an N are deleted when it ends; --json keeps every number.
Standard library only (the launcher and helpers of benches/workflow.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workflow  # noqa: E402  (the measurement launcher, fast_rmtree, log, human)
from workflow import human, log  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / "work-scale"
MARKER = ".dvx-bench-scale-workdir"
GiB = 1 << 30

FILE_MIN, FILE_MAX = 200, 2048  # --file-max lowers the top, e.g. for a file system that inlines small files
RSS_LIMIT_MB = 300
GROWTH_SLACK = 1.1  # 100k -> 1M: time at most 11x, i.e. 1.1x the growth of N
NOOP_LIMIT_S = 1.0  # no-op status at 1M files
NOOP_AT_N = 1_000_000

STEPS = [("add_v1", "add v1"), ("commit_v1", "git commit v1"), ("status_noop", "no-op status (best)"),
         ("status_dirty", "status after v2 written"), ("add_v2", "add v2"),
         ("commit_v2", "git commit v2"), ("checkout_v1", "checkout v1"),
         ("checkout_v2", "checkout v2"), ("ls_json", "ls --json"), ("diff", "diff v1 v2"),
         ("push", "push both versions (folder)"), ("clone", "git clone"), ("pull", "pull (in the clone)"),
         ("cp_r", "cp -r of the pulled tree (baseline)")]
BASELINES = {"cp_r"}  # not dvx: left out of the targets
CP_MAX_N = 3_000_000  # a third tree of N files: more inodes than scale-10m.sh's file system has


# --------------------------------------------------------------------------------------
# The dataset: every file is a function of (seed, index, generation), so nothing is kept
# in memory and any file's expected bytes can be rebuilt for the checks.
# --------------------------------------------------------------------------------------

class Dataset:
    def __init__(self, n: int, seed: int, file_max: int = FILE_MAX):
        self.n = n
        self.seed = seed
        self.file_max = file_max
        self.dirs = max(1, round(math.sqrt(n)))
        self.added = n // 100
        self.rewritten = frozenset(random.Random(f"{seed}-rewrite-{n}").sample(range(n), n // 100))
        rng = random.Random(f"{seed}-blobs")
        self.text = self._text_blob(rng, 1 << 21)
        self.noise = rng.randbytes(1 << 21)
        self.key = hashlib.sha256(f"scale-{seed}".encode()).digest()

    @staticmethod
    def _text_blob(rng: random.Random, nbytes: int) -> bytes:
        """Log- and CSV-like lines (compressible like real text, never repetitive)."""
        words, cities = workflow.WORDS, workflow.CITIES
        out, total, t = [], 0, 1_700_000_000
        while total < nbytes:
            t += rng.randrange(1, 90)
            if rng.random() < 0.5:
                line = "%d,%s-%03d,%.3f,%.2f,%s\n" % (t, rng.choice(cities), rng.randrange(1000),
                                                     rng.gauss(12, 9), rng.uniform(0, 100),
                                                     " ".join(rng.sample(words, rng.randrange(4))))
            else:
                line = "%d %s %s req=%08x %s\n" % (t, rng.choice(workflow.LEVELS), rng.choice(workflow.SERVICES),
                                                   rng.getrandbits(32), " ".join(rng.choices(words, k=rng.randrange(2, 9))))
            out.append(line)
            total += len(line)
        return "".join(out).encode()

    def count(self, version: int) -> int:
        return self.n + (self.added if version == 2 else 0)

    def rel(self, i: int) -> str:
        return f"d{i % self.dirs:05d}/f{i:08d}.txt"

    def gen(self, i: int, version: int) -> int:
        return 1 if version == 2 and i in self.rewritten else 0

    def _layout(self, i: int, gen: int) -> tuple[int, int, bytes]:
        h = hashlib.blake2b(i.to_bytes(8, "little") + bytes([gen]), key=self.key, digest_size=32).digest()
        x = int.from_bytes(h[:16], "little")
        span = self.file_max - FILE_MIN + 1
        return FILE_MIN + x % span, x // span, h[16:]

    def size(self, i: int, gen: int) -> int:
        return self._layout(i, gen)[0]

    def content(self, i: int, gen: int) -> bytes:
        size, x, tag = self._layout(i, gen)
        head = b"%08d g%d %s\n" % (i, gen, tag.hex().encode())
        body = size - len(head)
        noise = body * (x % 4) // 8  # 0-37% random bytes, the rest text lines
        x //= 4
        to = x % (len(self.text) - self.file_max)
        no = (x >> 24) % (len(self.noise) - self.file_max)
        return head + self.text[to:to + body - noise] + self.noise[no:no + noise]

    def order(self, version: int):
        """Indices in the byte order of their paths (fixed-width names)."""
        total = self.count(version)
        for d in range(self.dirs):
            yield from range(d, total, self.dirs)

    def expected(self, version: int) -> dict:
        """File count, total bytes and sha256 over the sorted (path, size) list of a version."""
        h, nbytes = hashlib.sha256(), 0
        for i in self.order(version):
            s = self.size(i, self.gen(i, version))
            nbytes += s
            h.update(b"%s\0%d\n" % (self.rel(i).encode(), s))
        return {"files": self.count(version), "bytes": nbytes, "listing_sha256": h.hexdigest()}

    def sample(self, version: int, others: int = 2000) -> list[int]:
        """Every file that differs between v1 and v2, plus about `others` spread over the rest."""
        changed = set(self.rewritten) | (set(range(self.n, self.n + self.added)) if version == 2 else set())
        stride = max(1, self.n // others)
        return sorted(changed | set(range(0, self.n, stride)))

    def _write(self, root: Path, i: int, gen: int) -> None:
        fd = os.open(root / self.rel(i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, self.content(i, gen))
        finally:
            os.close(fd)

    def write_v1(self, root: Path) -> None:
        root.mkdir(parents=True)
        for d in range(self.dirs):
            (root / f"d{d:05d}").mkdir()
        for i in range(self.n):
            self._write(root, i, 0)

    def write_v2(self, root: Path) -> None:
        """v1 -> v2 in place: 1% rewritten (new bytes and size), 1% added in the existing folders."""
        for i in sorted(self.rewritten):
            self._write(root, i, 1)
        for i in range(self.n, self.n + self.added):
            self._write(root, i, 0)


def walk_listing(root: Path):
    """(relpath, size) of every non-directory under root, in byte order of the paths."""
    stack = [(root, "")]
    while stack:
        d, prefix = stack.pop()
        with os.scandir(d) as it:
            ents = sorted(it, key=lambda e: e.name)
        subdirs = []
        for e in ents:
            if e.is_dir(follow_symlinks=False):
                subdirs.append((e.path, prefix + e.name + "/"))
            else:
                kind = "" if e.is_file(follow_symlinks=False) else "?"  # symlink/other: never expected
                yield prefix + e.name + kind, e.stat(follow_symlinks=False).st_size
        stack.extend(reversed(subdirs))


def verify_tree(ds: Dataset, root: Path, version: int, exp: dict) -> dict:
    """The tree under root is exactly version `version`: count, (path, size) hash, sampled bytes."""
    t = time.perf_counter()
    if not root.is_dir():
        return {"ok": False, "error": f"{root} missing"}
    h, files = hashlib.sha256(), 0
    for rel, size in walk_listing(root):
        files += 1
        h.update(b"%s\0%d\n" % (rel.encode(), size))
    res = {"files": files, "listing_ok": files == exp["files"] and h.hexdigest() == exp["listing_sha256"]}
    bad = []
    sample = ds.sample(version)
    for i in sample:
        try:
            got = (root / ds.rel(i)).read_bytes()
        except OSError as e:
            got = repr(e).encode()
        if got != ds.content(i, ds.gen(i, version)):
            bad.append(ds.rel(i))
    res.update(sampled=len(sample), sample_bad=len(bad), sample_bad_examples=bad[:5],
               ok=res["listing_ok"] and not bad, check_s=round(time.perf_counter() - t, 2))
    return res


def check_dvx_ls(path: Path, exp: dict, prefix: str) -> dict:
    """`dvx ls --json` (pretty-printed, one field per line) lists exactly the expected files.
    Parsed line by line: the output is hundreds of MB at 1M files."""
    items = []
    kind = rel = size = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s.startswith('"kind":'):
                kind = json.loads(s.split(":", 1)[1].rstrip(","))
            elif s.startswith('"path":'):
                rel = json.loads(s.split(":", 1)[1].rstrip(","))
            elif s.startswith('"size":'):
                size = int(s.split(":", 1)[1].rstrip(","))
            elif s in ("}", "},"):
                if kind == "file" and rel is not None:
                    items.append((rel, size))
                kind = rel = size = None
    return listing_result(items, exp, prefix)


def check_dvc_ls(path: Path, exp: dict, prefix: str) -> dict:
    doc = json.loads(path.read_text())
    items = [("data/" + e["path"], e["size"]) for e in doc if not e.get("isdir")]
    return listing_result(items, exp, prefix)


def listing_result(items: list, exp: dict, prefix: str) -> dict:
    items.sort()
    h = hashlib.sha256()
    for rel, size in items:
        h.update(b"%s\0%d\n" % (rel.removeprefix(prefix).encode(), size))
    ok = len(items) == exp["files"] and h.hexdigest() == exp["listing_sha256"]
    return {"ok": ok, "files": len(items)}


def tree_size(root: Path) -> dict:
    return {"bytes": workflow.tree_bytes(root), "files": workflow.tree_files(root)}


# --------------------------------------------------------------------------------------
# One tool at one N
# --------------------------------------------------------------------------------------

class DiskLow(Exception):
    pass


def out_text(step: dict, i: int = 0) -> str:
    return Path(step["runs"][i]["log"] + ".out").read_text(errors="replace")


def run_tool(tool: str, exe: str, ds: Dataset, r: workflow.Runner, base: Path, exp: dict,
             args) -> dict:
    S: dict = {}
    C: dict = {}
    res = {"steps": S, "checks": C, "store": {}, "untimed_s": {}}
    repo, clone = base / f"repo-{tool}", base / f"clone-{tool}"
    remote_parent = base / f"remote-{tool}"
    remote = remote_parent / "folder"
    remote_parent.mkdir()  # dvx refuses a remote whose parent is missing (an unmounted share?)

    def guard() -> None:
        free = shutil.disk_usage(base).free
        if free < args.min_free_gb * GiB:
            raise DiskLow(f"only {human(free)} free on the disk of {base} (minimum {args.min_free_gb} GiB)")

    def step(name: str, cmds: list[list[str]], cwd: Path = repo) -> dict:
        guard()
        load = os.getloadavg()[0]
        st = S[name] = r.step(tool, name, cmds, cwd)
        st["load1_before"] = load
        return st

    repo.mkdir()
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "bench"],
                ["git", "config", "user.email", "bench@example.invalid"],
                ["git", "config", "commit.gpgsign", "false"]):
        r.quiet(cmd, repo)
    if tool == "dvx":
        r.quiet([exe, "init"], repo)
        r.quiet([exe, "remote", "add", "folder", str(remote)], repo)
    else:
        r.quiet([exe, "init", "-q"], repo)
        r.quiet([exe, "config", "core.analytics", "false"], repo)
        r.quiet([exe, "config", "core.check_update", "false"], repo)
        r.quiet([exe, "remote", "add", "-d", "folder", str(remote)], repo)
        r.quiet(["git", "add", "-A", ".dvc", ".dvcignore"], repo)

    t = time.perf_counter()
    ds.write_v1(repo / "data")
    res["untimed_s"]["write_v1"] = round(time.perf_counter() - t, 1)
    log(f"  {tool:4s} v1 written in {res['untimed_s']['write_v1']} s ({ds.n} files)")

    if tool == "dvx":
        store = repo / ".dvx" / "store"
        add = [[exe, "add", "data", "-m", "v1"]]
        commit = [["git", "commit", "-q", "-m", "v1"]]
    else:
        store = repo / ".dvc" / "cache"
        add = [[exe, "add", "-q", "data"]]
        commit = [["git", "add", "data.dvc", ".gitignore"], ["git", "commit", "-q", "-m", "v1"]]
    step("add_v1", add)
    step("commit_v1", commit)
    if tool == "dvx":
        ptr = (repo / "data.dvx").read_text() if (repo / "data.dvx").is_file() else ""
        C["add_v1_pointer_files"] = f"files = {ds.count(1)}\n" in ptr
    res["store"]["after_v1"] = tree_size(store)

    runs = [step(f"status_noop_{k + 1}", [[exe, "status"]]) for k in range(args.status_runs)]
    best = min(runs, key=lambda x: x["wall_s"])
    S["status_noop"] = dict(best, runs_all_s=[x["wall_s"] for x in runs],
                            maxrss_kib=max(x["maxrss_kib"] for x in runs))
    S["status_noop_first"] = runs[0]
    outs = [out_text(x) for x in runs]
    C["status_noop_clean"] = all(("data: clean" in o) if tool == "dvx" else ("up to date" in o) for o in outs)

    t = time.perf_counter()
    ds.write_v2(repo / "data")
    res["untimed_s"]["write_v2"] = round(time.perf_counter() - t, 1)
    st = step("status_dirty", [[exe, "status"]])
    o = out_text(st)
    if tool == "dvx":
        lines = o.splitlines()
        added = sum(1 for x in lines if x.startswith("  added:"))
        modified = sum(1 for x in lines if x.startswith("  modified:"))
        deleted = sum(1 for x in lines if x.startswith("  deleted:"))
        C["status_dirty_counts"] = {"added": added, "modified": modified, "deleted": deleted}
        C["status_dirty_ok"] = (added, modified, deleted) == (ds.added, len(ds.rewritten), 0)
    else:
        C["status_dirty_ok"] = "modified" in o

    if tool == "dvx":
        add, commit = [[exe, "add", "data", "-m", "v2"]], [["git", "commit", "-q", "-m", "v2"]]
    else:
        commit = [["git", "add", "data.dvc"], ["git", "commit", "-q", "-m", "v2"]]
    step("add_v2", add)
    step("commit_v2", commit)
    if tool == "dvx":
        ptr = (repo / "data.dvx").read_text() if (repo / "data.dvx").is_file() else ""
        C["add_v2_pointer_files"] = f"files = {ds.count(2)}\n" in ptr
    res["store"]["after_v2"] = tree_size(store)
    r.quiet(["git", "tag", "v1", "HEAD~1"], repo)
    r.quiet(["git", "tag", "v2", "HEAD"], repo)

    if tool == "dvx":
        to_v1, to_v2 = [[exe, "checkout", "v1", "data"]], [[exe, "checkout", "v2", "data"]]
    else:
        to_v1 = [["git", "checkout", "v1", "--", "data.dvc"], [exe, "checkout"]]
        to_v2 = [["git", "checkout", "v2", "--", "data.dvc"], [exe, "checkout"]]
    step("checkout_v1", to_v1)
    C["checkout_v1"] = verify_tree(ds, repo / "data", 1, exp[1])
    log(f"  {tool:4s} verify v1: {C['checkout_v1']}")
    step("checkout_v2", to_v2)
    C["checkout_v2"] = verify_tree(ds, repo / "data", 2, exp[2])
    log(f"  {tool:4s} verify v2: {C['checkout_v2']}")

    if tool == "dvx":
        st = step("ls_json", [[exe, "ls", "--json"]])
        C["ls_json"] = check_dvx_ls(Path(st["runs"][0]["log"] + ".out"), exp[2], "data/")
    else:
        st = step("ls_json", [[exe, "ls", "-R", "--json", ".", "data"]])
        C["ls_json"] = check_dvc_ls(Path(st["runs"][0]["log"] + ".out"), exp[2], "data/")
    res["ls_json_bytes"] = os.path.getsize(st["runs"][0]["log"] + ".out")
    os.unlink(st["runs"][0]["log"] + ".out")  # hundreds of MB at 1M files
    log(f"  {tool:4s} ls --json: {C['ls_json']}")

    st = step("diff", [[exe, "diff", "v1", "v2"]])
    o = out_text(st)
    if tool == "dvx":
        lines = o.splitlines()
        counts = {k: sum(1 for x in lines if x.startswith(k + " ")) for k in ("A", "M", "D", "R")}
        C["diff_counts"] = counts
        C["diff_ok"] = counts == {"A": ds.added, "M": len(ds.rewritten), "D": 0, "R": 0}
    else:
        want = f"files summary: {ds.added} added, {len(ds.rewritten)} modified"
        C["diff_ok"] = want in o
        C["diff_summary"] = [x for x in o.splitlines() if x.startswith("files summary")][:1]

    if tool == "dvx":
        st = step("push", [[exe, "push", "--all-revs", "-r", "folder", "--json"]])
        try:
            res["push_summary"] = json.loads(out_text(st))
        except ValueError:
            res["push_summary"] = None
    else:
        step("push", [[exe, "push", "--all-commits", "-r", "folder"]])
    res["remote"] = tree_size(remote)

    step("clone", [["git", "clone", "-q", str(repo), str(clone)]], base)
    if tool == "dvx":
        st = step("pull", [[exe, "pull", "-r", "folder", "--json"]], clone)
        try:
            res["pull_summary"] = {k: v for k, v in json.loads(out_text(st)).items() if k != "datasets"}
        except ValueError:
            res["pull_summary"] = None
    else:
        step("pull", [[exe, "pull", "-r", "folder"]], clone)
    C["pull"] = verify_tree(ds, clone / "data", 2, exp[2])
    log(f"  {tool:4s} verify pull: {C['pull']}")
    if tool == "dvx" and ds.n <= CP_MAX_N:
        # What creating the tree pull creates costs the file system itself.
        step("cp_r", [["cp", "-r", str(clone / "data"), str(base / "cp-data")]], base)
        workflow.fast_rmtree(base / "cp-data")
    return res


def checks_ok(res: dict) -> list[str]:
    """Names of the failed checks and commands of one tool at one N."""
    bad = [f"{k} (rc {','.join(str(x['rc']) for x in v['runs'])})"
           for k, v in res.get("steps", {}).items() if "runs" in v and not v["ok"]]
    for k, v in res.get("checks", {}).items():
        ok = v.get("ok") if isinstance(v, dict) and "ok" in v else v
        if k.endswith("_counts") or k.endswith("_summary"):
            continue
        if ok is not True:
            bad.append(k)
    return bad


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def fmt_s(x) -> str:
    return "n/a" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def mb(kib) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f}"


def val(runs: dict, n: int, tool: str, step: str, key: str):
    st = runs.get(n, {}).get("tools", {}).get(tool, {}).get("steps", {}).get(step)
    return None if st is None else st.get(key)


def evaluate(runs: dict, ns: list[int]) -> list[dict]:
    """The issue's targets, for dvx: peak RSS <= 300 MB every step at every N; time from one N
    to the next at most 1.1x the growth of N (11x for 100k -> 1M); no-op status <= 1 s at 1M."""
    out = []
    for n in ns:
        steps = runs[n].get("tools", {}).get("dvx", {}).get("steps", {})
        over = [(k, v["maxrss_kib"] / 1024) for k, v in steps.items()
                if k in dict(STEPS) and k not in BASELINES and v["maxrss_kib"] / 1024 > RSS_LIMIT_MB]
        if steps:
            out.append({"target": f"peak RSS <= {RSS_LIMIT_MB} MB, every step, N={n:,}",
                        "ok": not over,
                        "detail": "all steps within" if not over else
                        ", ".join(f"{k} {v:.0f} MB" for k, v in over)})
    done = [n for n in ns if runs[n].get("tools", {}).get("dvx", {}).get("steps")]
    for a, b in zip(done, done[1:]):
        limit = GROWTH_SLACK * b / a
        worse = []
        for k, _ in STEPS:
            ta, tb = val(runs, a, "dvx", k, "wall_s"), val(runs, b, "dvx", k, "wall_s")
            if ta and tb and tb / ta > limit and k not in BASELINES:
                worse.append(f"{k} {tb / ta:.1f}x")
        out.append({"target": f"time N={a:,} -> {b:,} at most {limit:.1f}x per step", "ok": not worse,
                    "detail": "all steps within" if not worse else ", ".join(worse)})
    if NOOP_AT_N in done:
        t = val(runs, NOOP_AT_N, "dvx", "status_noop", "wall_s")
        first = val(runs, NOOP_AT_N, "dvx", "status_noop_first", "wall_s")
        out.append({"target": f"no-op status <= {NOOP_LIMIT_S:.0f} s at N={NOOP_AT_N:,}",
                    "ok": t is not None and t <= NOOP_LIMIT_S,
                    "detail": f"best {fmt_s(t)} s, first {fmt_s(first)} s"})
    return out


def report(runs: dict, ns: list[int], tools: list[str]) -> tuple[str, list[dict]]:
    L = []
    for n in ns:
        run = runs[n]
        L.append(f"## N = {n:,} files ({run['dataset']['dirs']:,} folders)\n")
        if run.get("skipped"):
            L.append(f"Skipped: {run['skipped']}\n")
            continue
        e = run["expected"]
        L.append(f"v1 {e['1']['files']:,} files, {human(e['1']['bytes'])}; v2 {e['2']['files']:,} files "
                 f"({run['dataset']['rewritten']:,} rewritten, {run['dataset']['added']:,} added), "
                 f"{human(e['2']['bytes'])}. Load average (1, 5, 15 min) at the start of this N {run['load_start']}, "
                 f"at its end {run.get('load_end', 'n/a')}. RSS floor of the launcher (`true`): "
                 f"{mb(run.get('rss_floor_kib'))} MB.\n")
        present = [t for t in tools if t in run["tools"]]
        head = "| step |" + "".join(f" {t} s | {t} peak RSS MB | {t} CPU s |" for t in present)
        if "dvx" in present and "dvc" in present:
            head += " dvx/DVC time |"
        L.append(head)
        L.append("|---|" + "---|" * (3 * len(present) + ("dvx" in present and "dvc" in present)))
        for k, label in STEPS:
            row = f"| {label} |"
            for t in present:
                row += (f" {fmt_s(val(runs, n, t, k, 'wall_s'))} | {mb(val(runs, n, t, k, 'maxrss_kib'))} |"
                        f" {fmt_s(val(runs, n, t, k, 'cpu_s'))} |")
            if "dvx" in present and "dvc" in present:
                a, b = val(runs, n, "dvx", k, "wall_s"), val(runs, n, "dvc", k, "wall_s")
                row += f" {a / b:.3f} |" if a is not None and b else " n/a |"
            L.append(row)
        for t in present:
            tr = run["tools"][t]
            if "error" in tr:
                L.append(f"\n{t}: harness error: {tr['error']}")
            firsts = tr.get("steps", {}).get("status_noop", {}).get("runs_all_s")
            extra = f"no-op status runs {', '.join(fmt_s(x) for x in firsts)} s; " if firsts else ""
            st = tr.get("store", {})
            L.append(f"\n{t}: {extra}store after v1 {human(st.get('after_v1', {}).get('bytes'))}, after v2 "
                     f"{human(st.get('after_v2', {}).get('bytes'))} ({st.get('after_v2', {}).get('files')} files); "
                     f"remote {human(tr.get('remote', {}).get('bytes'))} ({tr.get('remote', {}).get('files')} files); "
                     f"ls --json output {human(tr.get('ls_json_bytes'))}. Checks: "
                     + ("all passed" if not checks_ok(tr) else "FAILED " + ", ".join(checks_ok(tr))))
        L.append("")
    dvx_ns = [n for n in ns if runs[n].get("tools", {}).get("dvx", {}).get("steps")]
    if len(dvx_ns) > 1:
        L.append("## dvx across N (time s / peak RSS MB; ratio = time at N / time at the previous N)\n")
        L.append("| step |" + "".join(f" N={n:,} s | RSS MB |" for n in dvx_ns)
                 + "".join(f" {b // a if b % a == 0 else round(b / a, 1)}x N: time ratio |"
                           for a, b in zip(dvx_ns, dvx_ns[1:])))
        L.append("|---|" + "---|---|" * len(dvx_ns) + "---|" * (len(dvx_ns) - 1))
        for k, label in STEPS:
            row = f"| {label} |" + "".join(f" {fmt_s(val(runs, n, 'dvx', k, 'wall_s'))} |"
                                           f" {mb(val(runs, n, 'dvx', k, 'maxrss_kib'))} |" for n in dvx_ns)
            for a, b in zip(dvx_ns, dvx_ns[1:]):
                ta, tb = val(runs, a, "dvx", k, "wall_s"), val(runs, b, "dvx", k, "wall_s")
                row += f" {tb / ta:.1f}x |" if ta and tb else " n/a |"
            L.append(row)
        L.append("")
    targets = evaluate(runs, ns)
    if targets:
        L.append("## Targets (issue 15, dvx)\n")
        L.append("| target | result | detail |")
        L.append("|---|---|---|")
        for t in targets:
            L.append(f"| {t['target']} | {'PASS' if t['ok'] else 'FAIL'} | {t['detail']} |")
        L.append("")
    return "\n".join(L), targets


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def prepare_workdir(wd: Path) -> None:
    """Wipe the workdir only if this benchmark created it (marker file) or it is empty."""
    if wd.exists() and any(wd.iterdir()):
        if not (wd / MARKER).exists():
            sys.exit(f"refusing to wipe non-empty {wd}: benches/scale.py did not create it "
                     f"(no {MARKER}); pass another --workdir or empty it yourself")
        for e in wd.iterdir():
            workflow.fast_rmtree(e)
    wd.mkdir(parents=True, exist_ok=True)
    workflow.spread_dirs(wd)
    (wd / MARKER).write_text("created by benches/scale.py; wiped at every run\n")


def find_dvc(args, wd: Path) -> str:
    """--dvc, else a venv next to this workdir or the workflow benchmark's, else
    workflow.py's search (PATH, then a pip install into <workdir>/.venv-dvc)."""
    if args.dvc:
        return args.dvc
    for cand in (wd / workflow.VENV_NAME / "bin" / "dvc", workflow.DEFAULT_WORKDIR / workflow.VENV_NAME / "bin" / "dvc"):
        if cand.exists():
            return str(cand)
    return workflow.find_dvc(args, wd)


def need_bytes(n: int, tools: list[str], on_disk: int, file_max: int) -> int:
    """Disk a run of N needs at its peak: `on_disk` bytes per small file (data, clone), a store and a
    remote of about 2/3 of the largest file size per file for dvx; DVC keeps one file per object in
    cache and remote."""
    need = 0
    if "dvx" in tools:
        need += n * (2 * on_disk + 2 * (file_max * 2 // 3) + 300)
    if "dvc" in tools:
        need += n * 6 * on_disk
    return int(need * 1.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="100000", help="comma list of file counts (default 100000)")
    ap.add_argument("--tools", default="dvx,dvc", help="comma list of dvx,dvc (default both)")
    ap.add_argument("--dvc-max-n", type=int, default=100_000, help="run DVC only up to this N (default 100000)")
    ap.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="scratch dir (default benches/work-scale)")
    ap.add_argument("--json", help="write every number to this JSON file")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--dvx", default=str(REPO_ROOT / "target" / "release" / "dvx"), help="dvx binary")
    ap.add_argument("--dvc", default=None, help="dvc executable (default: found like benches/workflow.py)")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install DVC when missing")
    ap.add_argument("--status-runs", type=int, default=3, help="no-op status repetitions (default 3)")
    ap.add_argument("--timeout", type=float, default=3600, help="per-command timeout in seconds")
    ap.add_argument("--min-free-gb", type=float, default=15,
                    help="skip an N (or stop it) when the disk would go below this (default 15 GiB)")
    ap.add_argument("--file-max", type=int, default=FILE_MAX,
                    help=f"largest file in bytes (default {FILE_MAX}; files are {FILE_MIN} bytes to this)")
    ap.add_argument("--disk-per-file", type=int, default=4096,
                    help="bytes a small file takes on the work dir's disk, for the space estimate "
                         "(default 4096, one block; 0 where files live in preallocated inodes: ext4 with inline_data)")
    ap.add_argument("--keep", action="store_true", help="keep the work dirs of the last N")
    args = ap.parse_args()
    try:
        ns = [int(x.replace("_", "")) for x in args.n.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--n wants comma-separated integers, got {args.n!r}")
    if not ns or min(ns) < 100:
        ap.error("--n: every N must be at least 100 (1% of it is rewritten)")
    if not FILE_MIN + 100 <= args.file_max <= FILE_MAX:
        ap.error(f"--file-max: between {FILE_MIN + 100} and {FILE_MAX}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not tools or any(t not in ("dvx", "dvc") for t in tools):
        ap.error(f"--tools: a comma list of dvx,dvc, got {args.tools!r}")
    wd = Path(args.workdir).resolve()
    json_path = Path(args.json).resolve() if args.json else None

    prepare_workdir(wd)
    exes, versions = {}, {"git": workflow.tool_version(["git", "--version"]), "python": sys.version.split()[0]}
    if "dvx" in tools:
        src = Path(args.dvx)
        if not src.exists():
            sys.exit(f"dvx binary not found at {src}: run `cargo build --release --bin dvx` or pass --dvx PATH")
        (wd / "bin").mkdir()
        exes["dvx"] = str(wd / "bin" / "dvx")  # a concurrent build must not swap it mid-run
        shutil.copy2(src, exes["dvx"])
        with open(exes["dvx"], "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]
        versions["dvx"] = f"{workflow.tool_version([exes['dvx'], '--version'])} (sha256 {digest}, from {src.resolve()})"
    if "dvc" in tools and any(n <= args.dvc_max_n for n in ns):
        exes["dvc"] = find_dvc(args, wd)
        versions["dvc"] = workflow.tool_version([exes["dvc"], "--version"])

    env = dict(os.environ)
    for k in ("DVX_STORE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    env.update(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(wd / "dvc-site-cache"),
               DVX_CACHE_DIR=str(wd / "dvx-cache"), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")

    load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    runs: dict = {}
    out = {"versions": versions, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
           "loadavg_start": load_start}, "ns": ns, "tools": tools, "seed": args.seed, "runs": runs}

    def save() -> None:
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(out, indent=2, default=str))

    for n in ns:
        ds = Dataset(n, args.seed, args.file_max)
        run = runs[n] = {"dataset": {"n": n, "dirs": ds.dirs, "rewritten": len(ds.rewritten),
                                     "added": ds.added, "seed": args.seed,
                                     "file_bytes": [FILE_MIN, ds.file_max]},
                         "load_start": " / ".join(f"{x:.2f}" for x in os.getloadavg()), "tools": {}}
        n_tools = [t for t in tools if t in exes and (t != "dvc" or n <= args.dvc_max_n)]
        free = shutil.disk_usage(wd).free
        need = need_bytes(n, n_tools, args.disk_per_file, args.file_max)
        run["disk"] = {"free_before": free, "estimated_need": need}
        if free - need < args.min_free_gb * GiB:
            run["skipped"] = (f"{human(free)} free, this N needs about {human(need)}, and the disk "
                              f"must keep {args.min_free_gb} GiB free")
            log(f"N={n}: skipped: {run['skipped']}")
            continue
        log(f"=== N={n:,}: {ds.dirs} folders, tools {','.join(n_tools)}; computing the expected listings")
        t = time.perf_counter()
        exp = {1: ds.expected(1), 2: ds.expected(2)}
        run["expected"] = {str(k): v for k, v in exp.items()}
        log(f"  expected listings in {time.perf_counter() - t:.1f} s: v1 {exp[1]['files']} files "
            f"{human(exp[1]['bytes'])}, v2 {exp[2]['files']} files {human(exp[2]['bytes'])}")
        base = wd / f"n{n}"
        base.mkdir()
        logdir = base / "logs"
        logdir.mkdir()
        r = workflow.Runner(logdir, env, args.timeout)
        run["rss_floor_kib"] = r.rss_floor_kib
        try:
            for tool in n_tools:
                log(f"=== N={n:,} {tool}")
                try:
                    run["tools"][tool] = run_tool(tool, exes[tool], ds, r, base, exp, args)
                except (DiskLow, RuntimeError, OSError) as e:
                    log(f"  {tool}: stopped: {e!r}")
                    run["tools"][tool] = {"error": repr(e)}
                run["tools"][tool]["min_free_bytes_after"] = shutil.disk_usage(wd).free
                save()
        finally:
            r.close()
            run["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
            if not args.keep or n != ns[-1]:
                t = time.perf_counter()
                workflow.fast_rmtree(base)
                log(f"  removed {base} in {time.perf_counter() - t:.1f} s")
        save()

    text, targets = report(runs, ns, tools)
    out["targets"] = targets
    out["machine"]["loadavg_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    out["report_markdown"] = text
    print(text)
    print(f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, load average at start {load_start}, "
          f"at end {out['machine']['loadavg_end']}; " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    save()
    if json_path:
        log(f"raw numbers written to {json_path}")
    return 0  # the benchmark ran; the targets' PASS/FAIL is in the report


if __name__ == "__main__":
    sys.exit(main())
