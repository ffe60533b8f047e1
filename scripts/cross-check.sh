#!/usr/bin/env bash
# Compiles dvx for macOS on Apple silicon and for Windows, which CI cannot run (README
# "Platforms"). zig (PyPI `ziglang`) is the C cross-compiler for the C inside dependencies
# (zstd, blake3, aws-lc); cargo-zigbuild wires it in. A check, not a build: the macOS wheels of
# scripts/build-wheels.sh are the linked build (Apple's frameworks through stubs,
# scripts/macos-stubs.py).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(aarch64-apple-darwin x86_64-pc-windows-gnu)
rustup target add "${TARGETS[@]}"
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

# Unit and integration tests too: a developer there runs them. Most integration tests are
# `#![cfg(unix)]` (they drive symlinks, modes and signals), so on Windows they compile empty.
for target in "${TARGETS[@]}"; do
    echo "cross-check: $target"
    "$ZIGBUILD" check --workspace --all-targets --target "$target"
done
