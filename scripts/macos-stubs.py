#!/usr/bin/env python3
"""Writes link stubs of the two Apple frameworks dvx links, so that macOS wheels link on Linux.

Linking a macOS binary needs the frameworks its dependencies name: CoreFoundation
(core-foundation-sys, used by chrono's time zone lookup and reqwest's certificate verifier)
and Security (security-framework-sys, the verifier's access to the system trust store). Apple's
SDK, which is not on PyPI, holds them as `.tbd` files: text that lists a library's install
path and exported symbols, all a linker reads. This script writes the same kind of `.tbd`,
listing every function and static the two -sys crates declare in their `extern` blocks (the
crate that declares a symbol is the framework that exports it), into
`<out>/<Name>.framework/<Name>.tbd`; `-L framework=<out>` makes rustc pass it to zig's linker.
The macOS binary then loads the real frameworks from /System/Library/Frameworks, as one
linked against the SDK does; a symbol missing on the user's macOS fails at load, as it would
with the SDK.

Usage: macos-stubs.py OUT_DIR [--manifest-path Cargo.toml]
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys

# crate -> (framework, install name, compatibility version)
FRAMEWORKS = {
    "core-foundation-sys": (
        "CoreFoundation",
        "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation",
        "150",
    ),
    "security-framework-sys": (
        "Security",
        "/System/Library/Frameworks/Security.framework/Versions/A/Security",
        "1",
    ),
}

EXTERN_BLOCK = re.compile(r'\b(?:unsafe\s+)?extern\s*(?:"C"\s*)?\{')
FN = re.compile(r"\bfn\s+([A-Za-z_]\w*)\s*[(<]")
STATIC = re.compile(r"\bstatic\s+(?:mut\s+)?([A-Za-z_]\w*)\s*:")
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def extern_symbols(source: str) -> set:
    """The names declared inside the `extern "C" { ... }` blocks of one Rust file."""
    source = COMMENT.sub("", source)
    names = set()
    for m in EXTERN_BLOCK.finditer(source):
        depth, i = 1, m.end()
        while depth and i < len(source):
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        block = source[m.end() : i - 1]
        names.update(FN.findall(block))
        names.update(STATIC.findall(block))
    return names


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--manifest-path", default="Cargo.toml")
    args = ap.parse_args()
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--manifest-path", args.manifest_path],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    out = pathlib.Path(args.out)
    found = set()
    for pkg in meta["packages"]:
        spec = FRAMEWORKS.get(pkg["name"])
        if spec is None:
            continue
        if pkg["name"] in found:
            sys.exit(f"macos-stubs: two versions of {pkg['name']} in Cargo.lock; "
                     "this script expects one")
        found.add(pkg["name"])
        name, install, compat = spec
        src = pathlib.Path(pkg["manifest_path"]).parent / "src"
        symbols = set()
        for f in sorted(src.rglob("*.rs")):
            symbols |= extern_symbols(f.read_text(encoding="utf-8"))
        if not symbols:
            sys.exit(f"macos-stubs: no extern declarations found in {src}")
        fw = out / f"{name}.framework"
        fw.mkdir(parents=True, exist_ok=True)
        listed = ", ".join(f"_{s}" for s in sorted(symbols))
        tbd = (
            "--- !tapi-tbd\n"
            "tbd-version:     4\n"
            "targets:         [ x86_64-macos, arm64-macos ]\n"
            f"install-name:    '{install}'\n"
            f"compatibility-version: {compat}\n"
            "exports:\n"
            "  - targets:         [ x86_64-macos, arm64-macos ]\n"
            f"    symbols:         [ {listed} ]\n"
            "...\n"
        )
        tmp = fw / f"{name}.tbd.tmp"
        tmp.write_text(tbd, encoding="utf-8")
        tmp.replace(fw / f"{name}.tbd")
        print(f"macos-stubs: {fw / (name + '.tbd')}: {len(symbols)} symbols "
              f"from {pkg['name']} {pkg['version']}")
    missing = set(FRAMEWORKS) - found
    if missing:
        # Not an error: a dependency change may have dropped a framework.
        print(f"macos-stubs: not in the dependency graph: {', '.join(sorted(missing))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
