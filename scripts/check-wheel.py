#!/usr/bin/env python3
"""Checks built dvx wheels: the tags (abi3, the platform), the files (native module, the
Python package, `.pyi` stubs, `py.typed`), and the native module's dynamic dependencies
(Linux: only glibc's libraries; macOS: only libSystem and the two frameworks, no libpython).
Prints one line per wheel and exits 1 on the first wheel that fails.

Usage: check-wheel.py WHEEL...
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import zipfile

# What a manylinux wheel may link (PEP 599's list, less what dvx has no use for).
LINUX_OK = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
            "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
MACOS_OK = {
    "/usr/lib/libSystem.B.dylib",
    "/usr/lib/libiconv.2.dylib",  # Rust's std links it; zig's libiconv stub brings libcharset
    "/usr/lib/libcharset.1.dylib",
    "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation",
    "/System/Library/Frameworks/Security.framework/Versions/A/Security",
}
REQUIRED = ["dvx/__init__.py", "dvx/_cli.py", "dvx/__main__.py", "dvx/_core.pyi", "dvx/py.typed"]


def elf_needed(path: str) -> list[str]:
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines()
            if "(NEEDED)" in line]


def macho_info(data: bytes) -> tuple[list[str], str]:
    """(LC_LOAD_DYLIB install names, minimum macOS) of a thin 64-bit Mach-O."""
    magic, _cpu, _sub, _ftype, ncmds, _size, _flags = struct.unpack_from("<IiiIIII", data)
    if magic != 0xFEEDFACF:
        raise SystemExit(f"not a 64-bit little-endian Mach-O (magic {magic:#x})")
    off, dylibs, minos = 32, [], "?"
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, off)
        cmd &= 0x7FFFFFFF  # LC_REQ_DYLD
        if cmd in (0xC, 0x18, 0x1F, 0x23):  # LOAD, WEAK, REEXPORT, LOAD_UPWARD dylib
            (name_off,) = struct.unpack_from("<I", data, off + 8)
            dylibs.append(data[off + name_off:off + size].split(b"\0", 1)[0].decode())
        elif cmd == 0x32:  # LC_BUILD_VERSION: platform, minos (xxxx.yy.zz)
            (v,) = struct.unpack_from("<I", data, off + 12)
            minos = f"{v >> 16}.{(v >> 8) & 0xFF}"
        elif cmd == 0x24:  # LC_VERSION_MIN_MACOSX
            (v,) = struct.unpack_from("<I", data, off + 8)
            minos = f"{v >> 16}.{(v >> 8) & 0xFF}"
        off += size
    return dylibs, minos


def check(wheel: str) -> str:
    name = os.path.basename(wheel)
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        tags = [line.split(":", 1)[1].strip() for line in z.read(meta).decode().splitlines()
                if line.startswith("Tag:")]
        for f in REQUIRED:
            if f not in names:
                raise SystemExit(f"{name}: {f} missing")
        if b'"""' not in z.read("dvx/_core.pyi"):
            raise SystemExit(f"{name}: dvx/_core.pyi has no docstrings")
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        if "dvx=dvx._cli:main" not in z.read(entry).decode().replace(" ", ""):
            raise SystemExit(f"{name}: no `dvx` console script in {entry}")
        natives = [n for n in names if n.startswith("dvx/_core.") and not n.endswith(".pyi")]
        if len(natives) != 1:
            raise SystemExit(f"{name}: expected one native module, found {natives}")
        native = natives[0]
        data = z.read(native)
    if not tags or not all(t.startswith("cp39-abi3-") for t in tags):
        raise SystemExit(f"{name}: tags {tags}, want cp39-abi3-<platform>")
    if data[:4] == b"\x7fELF":
        if not native.endswith(".abi3.so"):
            raise SystemExit(f"{name}: {native} is not an abi3 module name")
        with tempfile.NamedTemporaryFile(suffix=".so") as f:
            f.write(data)
            f.flush()
            needed = elf_needed(f.name)
        bad = [n for n in needed if n not in LINUX_OK]
        detail = f"needs {', '.join(needed)}"
    else:
        needed, minos = macho_info(data)
        bad = [n for n in needed if n not in MACOS_OK]
        detail = f"macOS {minos}+, links {', '.join(os.path.basename(n) for n in needed)}"
    if bad:
        raise SystemExit(f"{name}: unexpected dynamic dependencies {bad}")
    return (f"{name}  {os.path.getsize(wheel) / 1e6:.1f} MB  tags {','.join(tags)}  "
            f"{native} {len(data) / 1e6:.1f} MB  {detail}")


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for wheel in sys.argv[1:]:
        print(check(wheel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
