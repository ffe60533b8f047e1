#!/usr/bin/env python3
"""dvx registry benchmark: `dvx get` / `import` / `update` vs `dvc get` / `import` / `update`.

One command (run from anywhere):

    python3 benches/registry.py                  # ~1 GiB dataset, 20,000 small files, dvx and dvc
    python3 benches/registry.py --quick          # smoke test: 64 MiB, 2,000 small files
    python3 benches/registry.py --dvx target/release/dvx --dvc /path/to/dvc --json out.json

What it does (details in benches/README.md):
  1. Generates the two-version dataset of benches/workflow.py (same seed, same code).
  2. Per tool, builds a "data registry" git repository: data/ added at v1 (tag v1) and at v2
     (tag v2), both pushed to a folder remote that the registry's committed config names as
     its default (untimed).
  3. Timed, per tool, from a fresh user cache (dvx: DVX_CACHE_DIR; DVC: its site cache):
     - get v1 of data/ into an empty folder;
     - get v2 into another folder (dvx reuses its source mirror; DVC clones again);
     - in a fresh project repository: import v1 of data/ as `images`, then update to v2.
     Every copy is verified byte for byte against the generation-time manifests. For the
     update, the bytes each tool moved into its store are measured (store size before/after)
     and set against the bytes that really changed between v1 and v2.
  4. Prints a markdown table with the ratios dvx/DVC and the issue's targets (get v1 <= 1/5,
     second get <= 1/10 of DVC's, update moves <= 2x the changed bytes).

Needs what benches/workflow.py needs (python3 >= 3.11, git, the dvx binary, DVC from pip).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workflow as wf  # noqa: E402  (same dataset generator, launcher and helpers)

DEFAULT_WORKDIR = wf.BENCH_DIR / "work-registry"


def du(root: Path) -> int:
    return wf.tree_bytes(root) if root.exists() else 0


def store_dir(tool: str, repo: Path) -> Path:
    return repo / (".dvx" if tool == "dvx" else ".dvc/cache")


def build_registry(tool: str, r: wf.Runner, exe: str, wd: Path, ctx: dict) -> Path:
    """A registry repository with data/ at v1 and v2 (tags), pushed to its default remote."""
    reg = wd / f"registry-{tool}"
    remote = wd / f"remote-{tool}"
    remote.mkdir()
    wf.git_repo(r, reg, ctx["gen_data"])
    r.quiet([exe, "init"], reg)
    if tool == "dvx":
        r.quiet([exe, "remote", "add", "origin", str(remote)], reg)
    else:
        r.quiet([exe, "remote", "add", "-d", "origin", str(remote)], reg)
    r.quiet(["git", "add", "-A", "--", ".", ":!data"], reg)  # the tool's config, not the data
    r.quiet(["git", "commit", "-q", "-m", "init"], reg)
    for version in ("v1", "v2"):
        if version == "v2":
            wf.mutate_to_v2(reg / "data", ctx["seed"], ctx["m1"], ctx["info"])
        r.quiet([exe, "add", "data"], reg)
        if tool == "dvc":
            r.quiet(["git", "add", "data.dvc", ".gitignore"], reg)
        r.quiet(["git", "add", "-A"], reg)
        r.quiet(["git", "commit", "-q", "-m", version], reg)
        r.quiet(["git", "tag", version], reg)
        r.quiet([exe, "push"], reg)
    return reg


def project(tool: str, r: wf.Runner, exe: str, wd: Path) -> Path:
    proj = wd / f"project-{tool}"
    proj.mkdir()
    r.quiet(["git", "init", "-q", "-b", "main"], proj)
    for k, v in (("user.name", "bench"), ("user.email", "bench@example.invalid"),
                 ("commit.gpgsign", "false")):
        r.quiet(["git", "config", k, v], proj)
    r.quiet([exe, "init"], proj)
    r.quiet(["git", "add", "-A"], proj)
    r.quiet(["git", "commit", "-q", "-m", "init"], proj)
    return proj


def run_tool(tool: str, r: wf.Runner, exe: str, wd: Path, ctx: dict) -> dict:
    res = {"steps": {}, "checks": {}, "bytes": {}}
    S, C, B = res["steps"], res["checks"], res["bytes"]
    wf.log(f"=== {tool}: building the registry (untimed)")
    reg = build_registry(tool, r, exe, wd, ctx)
    out = wd / f"out-{tool}"
    out.mkdir()
    json_flag = ["--json"] if tool == "dvx" else []
    # 1. get v1, then v2 of the same source
    S["get_v1"] = r.step(tool, "get-v1", [[exe, "get", str(reg), "data", "-o", str(out / "v1"),
                                          "--rev", "v1"] + json_flag], out)
    C["get_v1"] = wf.compare(ctx["m1"], out / "v1")
    S["get_v2"] = r.step(tool, "get-v2", [[exe, "get", str(reg), "data", "-o", str(out / "v2"),
                                          "--rev", "v2"] + json_flag], out)
    C["get_v2"] = wf.compare(ctx["m2"], out / "v2")
    # 2. import v1 into a project, update to v2
    proj = project(tool, r, exe, wd)
    S["import_v1"] = r.step(tool, "import-v1", [[exe, "import", str(reg), "data", "-o", "images",
                                                "--rev", "v1"] + json_flag], proj)
    C["import_v1"] = wf.compare(ctx["m1"], proj / "images")
    r.quiet(["git", "add", "-A"], proj)
    r.quiet(["git", "commit", "-q", "-m", "import v1"], proj)
    before = du(store_dir(tool, proj))
    pointer = "images.dvx" if tool == "dvx" else "images.dvc"
    S["update_v2"] = r.step(tool, "update-v2", [[exe, "update", pointer, "--rev", "v2"] + json_flag],
                            proj)
    C["update_v2"] = wf.compare(ctx["m2"], proj / "images")
    B["store_growth_update"] = du(store_dir(tool, proj)) - before
    if tool == "dvx" and S["update_v2"]["ok"]:  # what the update downloaded, from its report
        report = json.loads(Path(S["update_v2"]["runs"][0]["log"] + ".out").read_text())
        B["transferred_update"] = sum(d["transfer"]["transferred"] for d in report["datasets"]
                                      if d.get("transfer"))
    for name in ("get_v1", "get_v2", "import_v1", "update_v2"):
        if not C[name]["ok"]:
            wf.log(f"  {tool}: {name} copy differs: {C[name]}")
    return res


def ratio(a, b):
    return a / b if a is not None and b else None


def report(results: dict, ds: dict) -> tuple[str, list[dict]]:
    lines = [f"Dataset: {wf.human(ds['v1_bytes'])} in {ds['v1_files']} files (v1), "
             f"{wf.human(ds['v2_bytes'])} in {ds['v2_files']} files (v2); really changed "
             f"{wf.human(ds['changed'])}.", "",
             "| step | dvx | DVC | dvx/DVC | target | |", "|---|---:|---:|---:|---|---|"]
    targets = []
    limits = {"get_v1": 0.2, "get_v2": 0.1}
    for step in ("get_v1", "get_v2", "import_v1", "update_v2"):
        t = {tool: results[tool]["steps"][step]["wall_s"] if tool in results and
             results[tool]["steps"].get(step, {}).get("ok") else None for tool in ("dvx", "dvc")}
        q = ratio(t["dvx"], t["dvc"])
        lim = limits.get(step)
        verdict = ""
        if lim is not None:
            verdict = "PASS" if q is not None and q <= lim else "FAIL"
            targets.append({"step": step, "ratio": q, "limit": lim, "pass": verdict == "PASS"})
        lines.append(f"| {step} | {wf.fmt_s(t['dvx'])} | {wf.fmt_s(t['dvc'])} | "
                     f"{'-' if q is None else f'{q:.3f}x'} | {'' if lim is None else f'<= {lim}x'} | "
                     f"{verdict} |")
    lines.append("")
    for tool in ("dvx", "dvc"):
        if tool in results:
            g = results[tool]["bytes"].get("store_growth_update")
            lines.append(f"- {tool}: update v1 -> v2 added {wf.human(g)} to the project's store "
                         f"({g / ds['changed']:.2f}x the bytes that really changed)")
    g = results.get("dvx", {}).get("bytes", {}).get("transferred_update")
    if g is not None:
        ok = g <= 2 * ds["changed"]
        targets.append({"step": "update_bytes", "ratio": g / ds["changed"], "limit": 2.0, "pass": ok})
        lines.append(f"- dvx: update v1 -> v2 downloaded {wf.human(g)} ({g / ds['changed']:.2f}x the "
                     f"bytes that really changed; target <= 2x: {'PASS' if ok else 'FAIL'})")
    bad = [f"{tool}:{k}" for tool in results for k, v in results[tool]["checks"].items() if not v["ok"]]
    lines.append(f"- copies verified byte for byte: {'all OK' if not bad else 'FAILED ' + ', '.join(bad)}")
    return "\n".join(lines), targets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=None, help="approximate dataset size in MiB (default 1024)")
    ap.add_argument("--small-files", type=int, default=None, help="number of small files (default 20000)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 64 MiB, 2000 small files")
    ap.add_argument("--tools", default="dvx,dvc", help="comma list of dvx,dvc (default both)")
    ap.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="work dir, wiped at start")
    ap.add_argument("--json", help="write raw numbers to this JSON file")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--dvx", default=str(wf.REPO_ROOT / "target" / "release" / "dvx"), help="dvx binary")
    ap.add_argument("--dvc", default=None, help="dvc executable (default: workdir venv, PATH, else pip-install)")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install DVC when missing")
    ap.add_argument("--timeout", type=float, default=3600, help="per-command timeout in seconds")
    ap.add_argument("--force-clean", action="store_true", help="allow wiping a non-benchmark --workdir")
    args = ap.parse_args()

    size_mb = args.size_mb or (64 if args.quick else 1024)
    small_files = args.small_files if args.small_files is not None else (2000 if args.quick else 20000)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if any(t not in ("dvx", "dvc") for t in tools):
        ap.error("--tools takes dvx and/or dvc")
    wd = Path(args.workdir).resolve()
    exes = {}
    if "dvx" in tools:
        dvx = Path(args.dvx)
        if not dvx.exists():
            sys.exit(f"dvx binary not found at {dvx}: run `cargo build --release` or pass --dvx PATH")
    wf.clean_workdir(wd, args.force_clean or wd == DEFAULT_WORKDIR.resolve())
    if "dvx" in tools:  # a private copy: a concurrent build must not swap the binary mid-run
        (wd / "bin").mkdir()
        shutil.copy2(dvx, wd / "bin" / "dvx")
        exes["dvx"] = str(wd / "bin" / "dvx")
    if "dvc" in tools:
        exes["dvc"] = wf.find_dvc(args, wd)

    env = dict(os.environ)
    for k in ("DVX_STORE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "XDG_CACHE_HOME"):
        env.pop(k, None)
    env.update(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(wd / "dvc-site-cache"),
               DVX_CACHE_DIR=str(wd / "dvx-cache"), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    logdir = wd / "logs"
    logdir.mkdir()
    r = wf.Runner(logdir, env, args.timeout)

    sizes = wf.plan_sizes(size_mb, small_files)
    gen = wd / "gen"
    wf.log(f"generating v1 (~{size_mb} MiB, {small_files} small files, seed {args.seed})")
    info = wf.generate_v1(gen / "data", args.seed, sizes)
    m1 = wf.manifest(gen / "data")
    r.quiet(["cp", "-a", str(gen / "data"), str(gen / "v2")], wd)
    changes = wf.mutate_to_v2(gen / "v2", args.seed, m1, info)
    m2 = wf.manifest(gen / "v2")
    wf.fast_rmtree(gen / "v2")
    changed = changes["accounting"]["really_changed_bytes"]
    ds = {"seed": args.seed, "size_mb": size_mb, "small_files": small_files,
          "v1_bytes": sum(v[0] for v in m1.values()), "v1_files": len(m1),
          "v2_bytes": sum(v[0] for v in m2.values()), "v2_files": len(m2), "changed": changed}
    ctx = {"gen_data": gen / "data", "seed": args.seed, "m1": m1, "m2": m2, "info": info}

    versions = {"git": wf.tool_version(["git", "--version"])}
    if "dvx" in exes:
        with open(exes["dvx"], "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]
        versions["dvx"] = f"{wf.tool_version([exes['dvx'], '--version'])} (sha256 {digest})"
    if "dvc" in exes:
        versions["dvc"] = wf.tool_version([exes["dvc"], "--version"])
    results = {}
    for tool in tools:
        try:
            results[tool] = run_tool(tool, r, exes[tool], wd, ctx)
        except Exception as e:  # noqa: BLE001 - report and go on with the other tool
            wf.log(f"  {tool}: harness error: {e!r}")
    r.close()
    text, targets = report(results, ds)
    machine = (f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, load "
               + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + "; "
               + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(text)
    print(machine)
    print(f"Per-command logs: {logdir}")
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": ds, "versions": versions, "results": results,
                                               "targets": targets, "report_markdown": text,
                                               "generated": time.strftime("%Y-%m-%dT%H:%M:%S")},
                                              indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
