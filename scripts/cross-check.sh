#!/usr/bin/env bash
# Compiles dvx for macOS on Apple silicon, which CI cannot run (README "Platforms").
# zig (PyPI `ziglang`) is the C cross-compiler for the C inside dependencies (zstd, blake3,
# aws-lc); cargo-zigbuild wires it in. A check, not a build: linking a macOS binary needs
# Apple's SDK (the Security and CoreFoundation frameworks), which is not on PyPI.
# Windows is not compiled: see README "Platforms" for why.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-apple-darwin
rustup target add "$TARGET"
python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild
ZIGBUILD="$(command -v cargo-zigbuild || true)"
if [[ -z "$ZIGBUILD" ]]; then
    # pip may have put it in a scripts directory that is not on PATH.
    for d in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
             "$(python3 -m site --user-base)/bin"; do
        if [[ -x "$d/cargo-zigbuild" ]]; then ZIGBUILD="$d/cargo-zigbuild"; break; fi
    done
fi
[[ -n "$ZIGBUILD" ]] || { echo "cargo-zigbuild not found after pip install" >&2; exit 1; }

# Unit and integration tests too: a macOS developer runs them.
"$ZIGBUILD" check --workspace --all-targets --target "$TARGET"
