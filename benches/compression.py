#!/usr/bin/env python3
"""Local store size against remote size on text data (issue 15, "compression where it pays").

    python3 benches/compression.py [--dvx target/release/dvx] [--releases 9] [--mib 20]

Generates `--releases` versions of one JSON file of about `--mib` MiB (records of a
seeded catalogue; each release edits 2% of the records and appends 1%), adds and commits
each with dvx, pushes every version to a folder remote, and reports the store's packs
against the remote's packs, with the time of each `add`. Also runs the same with
`zstd_level = -1` (chunks stored raw, the behaviour before issue 15) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def run(cmd, cwd, env) -> None:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")


def size_of(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def records(rng: random.Random, n: int, start: int) -> list:
    words = ["alpha", "beta", "gamma", "delta", "sensor", "station", "north", "south", "ok",
             "warning", "calibrated", "manual", "batch", "release", "dataset", "label"]
    out = []
    for i in range(start, start + n):
        out.append({
            "id": i,
            "name": f"{rng.choice(words)}-{rng.choice(words)}-{rng.randrange(10**6)}",
            "lat": round(rng.uniform(-90, 90), 6),
            "lon": round(rng.uniform(-180, 180), 6),
            "tags": rng.sample(words, 3),
            "value": rng.random() * 1000,
            "note": " ".join(rng.choice(words) for _ in range(rng.randrange(3, 12))),
        })
    return out


def one_run(dvx: str, work: Path, releases: int, mib: int, level: int | None) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    repo, remote = work / "repo", work / "remote"
    repo.mkdir(parents=True)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x.invalid", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@x.invalid")
    env.pop("DVX_STORE", None)
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([dvx, "init"], repo, env)
    if level is not None:
        run([dvx, "config", "--store", "zstd_level", str(level)], repo, env)
    run([dvx, "config", "remotes.origin.url", str(remote)], repo, env)
    run([dvx, "config", "core.default_remote", "origin"], repo, env)
    rng = random.Random(20261202)
    per = 300
    recs = records(rng, max(1, mib * MIB // per), 0)
    (repo / "data").mkdir()
    adds, raw = [], 0
    for r in range(releases):
        if r:
            for _ in range(len(recs) // 50):
                i = rng.randrange(len(recs))
                recs[i] = records(rng, 1, recs[i]["id"])[0]
            recs += records(rng, len(recs) // 100, len(recs) + 10**7)
        text = json.dumps(recs, indent=1).encode()
        raw += len(text)
        (repo / "data" / "catalogue.json").write_bytes(text)
        t = time.perf_counter()
        run([dvx, "add", "-q", "data", "-m", f"release {r}"], repo, env)
        adds.append(time.perf_counter() - t)
        run(["git", "commit", "-q", "-m", f"release {r}"], repo, env)
    run([dvx, "push", "-q", "--all-revs"], repo, env)
    return {
        "releases_bytes": raw,
        "store_packs": size_of(repo / ".dvx" / "store" / "packs"),
        "remote_packs": size_of(remote / "packs"),
        "add_median_s": statistics.median(adds),
        "add_first_s": adds[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dvx", default=str(Path(__file__).resolve().parent.parent / "target/release/dvx"))
    ap.add_argument("--releases", type=int, default=9)
    ap.add_argument("--mib", type=int, default=20)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="dvx-compression-"))
    rows = []
    for name, level in [("auto (zstd_level = 0, default)", None), ("raw (zstd_level = -1)", -1)]:
        r = one_run(a.dvx, work / "run", a.releases, a.mib, level)
        rows.append((name, r))
    shutil.rmtree(work, ignore_errors=True)
    print(f"{a.releases} releases of a {a.mib} MiB JSON; bytes of all releases: "
          f"{rows[0][1]['releases_bytes'] / MIB:.1f} MiB\n")
    print("| store | local packs MiB | remote packs MiB | local / remote | add, first s | add, median s |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['store_packs'] / MIB:.1f} | {r['remote_packs'] / MIB:.1f} | "
              f"{r['store_packs'] / r['remote_packs']:.2f}x | {r['add_first_s']:.3f} | {r['add_median_s']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
