#!/usr/bin/env python3
"""Encrypted vs plain remote: push of the two-version dataset of benches/workflow.py (same
generator, same seed) and fresh clone + pull, through a folder remote (and S3 with
`--s3-existing` after `eval "$(scripts/s3-server.sh env)"`). The two modes alternate, each
`--repeat` times, in fresh remotes; the report gives the median times and the ratio
encrypted / plain (the target of issue 14: at most 1.3x).

    cargo build --release
    python3 benches/encrypted.py                   # 256 MiB, 4,000 small files, folder remote
    python3 benches/encrypted.py --size-mb 1024 --small-files 20000 --repeat 3

Standard library only. Scratch in --workdir (default benches/work-enc, wiped at start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workflow  # noqa: E402  (the dataset generator)

PASS = "benchmark passphrase"


def run(cmd, cwd, env, check=True) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr}")
    return dt, p.stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--small-files", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--dvx", default="target/release/dvx")
    ap.add_argument("--workdir", default="benches/work-enc")
    ap.add_argument("--s3-existing", action="store_true")
    args = ap.parse_args()
    dvx = str(Path(args.dvx).resolve())
    wd = Path(args.workdir).resolve()
    if wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               DVX_CACHE_DIR=str(wd / "cache"), DVX_PASSPHRASE=PASS)
    env.pop("DVX_STORE", None)
    kinds = ["folder"]
    if args.s3_existing:
        kinds.append("s3")
        env.update(AWS_ENDPOINT_URL=os.environ["DVX_TEST_S3_ENDPOINT"],
                   AWS_ACCESS_KEY_ID=os.environ["DVX_TEST_S3_ACCESS_KEY"],
                   AWS_SECRET_ACCESS_KEY=os.environ["DVX_TEST_S3_SECRET_KEY"],
                   AWS_REGION="us-east-1", AWS_ALLOW_HTTP="true")

    # The repository: v1 committed, then v2.
    repo = wd / "repo"
    repo.mkdir()
    g = lambda *a: run(["git", *a], repo, env)  # noqa: E731
    g("init", "-q", "-b", "main")
    g("config", "user.email", "bench@dvx.invalid")
    g("config", "user.name", "bench")
    run([dvx, "-q", "init"], repo, env)
    sizes = workflow.plan_sizes(args.size_mb, args.small_files)
    info = workflow.generate_v1(repo / "data", args.seed, sizes)
    m1 = workflow.manifest(repo / "data")
    run([dvx, "-q", "add", "data"], repo, env)
    g("add", "-A")
    g("commit", "-qm", "v1")
    workflow.mutate_to_v2(repo / "data", args.seed, m1, info)
    run([dvx, "-q", "add", "data"], repo, env)
    g("add", "-A")
    g("commit", "-qm", "v2")
    total = workflow.tree_bytes(repo / "data")

    results: dict = {}
    n = 0
    clones = []
    for rep in range(args.repeat):
        for kind in kinds:
            # ABBA order, and clones removed only at the end: deleting thousands of files
            # just before a checkout made ext4's inode allocation the largest cost of the
            # next pull (perf: find_inode_bit, recently_deleted), always against the mode
            # that came second.
            for mode in (["plain", "encrypted"] if rep % 2 == 0 else ["encrypted", "plain"]):
                n += 1
                name = f"r{n}"
                url = (str(wd / f"remote-{n}") if kind == "folder"
                       else f"s3://{os.environ['DVX_TEST_S3_BUCKET']}/bench-enc-{os.getpid()}-{n}")
                add = [dvx, "-q", "remote", "add", name, url]
                if mode == "encrypted":
                    add.append("--encrypt")
                run(add, repo, env)
                g("commit", "-qm", f"remote {name}")
                t_push, out = run([dvx, "-q", "push", "--all-revs", "-r", name, "--json"], repo, env)
                push = json.loads(out)
                clone = wd / f"clone-{n}"
                t0 = time.perf_counter()
                run(["git", "clone", "-q", str(repo), str(clone)], wd, env)
                _, out = run([dvx, "-q", "pull", "-r", name, "--json"], clone, env)
                t_pull = time.perf_counter() - t0
                got = workflow.manifest(clone / "data")
                want = workflow.manifest(repo / "data")
                if got != want:
                    sys.exit(f"{mode} {kind}: the clone differs")
                clones.append(clone)
                r = results.setdefault((kind, mode), {"push": [], "pull": [], "requests": []})
                r["push"].append(t_push)
                r["pull"].append(t_pull)
                r["requests"].append(push.get("requests"))
                print(f"rep {rep} {kind} {mode}: push {t_push:.2f}s, clone+pull {t_pull:.2f}s",
                      file=sys.stderr)

    for clone in clones:
        shutil.rmtree(clone)
    print(f"Dataset: {total / 2**20:.0f} MiB in the worktree, two versions, "
          f"{args.small_files} small files; median of {args.repeat}.\n")
    print("| remote | step | plain | encrypted | ratio |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        for step in ["push", "pull"]:
            p = statistics.median(results[(kind, "plain")][step])
            e = statistics.median(results[(kind, "encrypted")][step])
            label = "push --all-revs" if step == "push" else "clone + pull"
            print(f"| {kind} | {label} | {p:.2f} s | {e:.2f} s | {e / p:.2f}x |")
    for kind in kinds:
        print(f"\n{kind}: push requests plain {results[(kind, 'plain')]['requests']}, "
              f"encrypted {results[(kind, 'encrypted')]['requests']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
