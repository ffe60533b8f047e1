#!/usr/bin/env bash
# Builds the release wheels of dvx, one abi3 wheel (CPython 3.9+) per platform, all on this
# Linux machine: manylinux_2_17 x86_64 and aarch64, macOS arm64 (11.0+) and x86_64 (10.12+).
# zig (PyPI `ziglang`) is the C compiler and linker for the other targets; macOS's two
# frameworks are linked through stubs (scripts/macos-stubs.py, docs/ARCHITECTURE.md "Python").
# Then checks each wheel (scripts/check-wheel.py) and prints its name and size.
#
# Usage: scripts/build-wheels.sh [OUT_DIR]      (default: $CARGO_TARGET_DIR/wheels or target/wheels)
#        WHEEL_TARGETS="aarch64-apple-darwin" scripts/build-wheels.sh    (a subset)
# About 10 minutes of 2 cores per target from clean; the four share no compiled code.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

OUT="${1:-${CARGO_TARGET_DIR:-target}/wheels}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
read -r -a TARGETS <<<"${WHEEL_TARGETS:-x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu \
aarch64-apple-darwin x86_64-apple-darwin}"

rustup target add "${TARGETS[@]}"
python3 -m pip install --quiet --disable-pip-version-check 'maturin>=1.9.4,<2' ziglang
MATURIN=(python3 -m maturin)

STUBS="$(mktemp -d "${TMPDIR:-/tmp}/dvx-macos-stubs.XXXXXX")"
trap 'rm -rf "$STUBS"' EXIT
python3 scripts/macos-stubs.py "$STUBS" --manifest-path "$ROOT/Cargo.toml"

BUILT=()
for target in "${TARGETS[@]}"; do
    echo "== $target"
    start=$SECONDS
    before="$(mktemp)"
    ls "$OUT" >"$before"
    case "$target" in
        *-linux-gnu)
            "${MATURIN[@]}" build --release --locked --zig --target "$target" \
                --compatibility manylinux2014 --out "$OUT"
            ;;
        *-apple-darwin)
            # Only the final link of the module needs the stubs (rustc passes them as -F).
            "${MATURIN[@]}" build --release --locked --zig --target "$target" --out "$OUT" \
                -- -L "framework=$STUBS"
            ;;
        *)
            echo "build-wheels: no recipe for $target" >&2
            exit 1
            ;;
    esac
    # The wheel this build wrote (the newest, if the same name was there before).
    wheel="$(comm -13 "$before" <(ls "$OUT") | grep '\.whl$' || true)"
    rm -f "$before"
    if [[ -z "$wheel" ]]; then
        wheel="$(ls -t "$OUT" | grep '\.whl$' | head -n 1)"
    fi
    BUILT+=("$OUT/$wheel")
    echo "== $target: $wheel in $((SECONDS - start)) s"
done

echo
echo "== wheels in $OUT"
python3 scripts/check-wheel.py "${BUILT[@]}"
