#!/usr/bin/env bash
# dvx demo on a fresh machine: builds dvx (or runs the one DVX names), makes a git repository
# with a generated dataset, versions it twice, and restores the first version. Uses only a
# local folder; no account.
# Every step is printed before it runs (`$ command`), followed by its output.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${DVX:-}" ]]; then
    # A prebuilt dvx (the wheel's command in python/tests/test_cli.py): no build.
    command -v "$DVX" >/dev/null 2>&1 || { echo "demo: DVX=$DVX is not a command" >&2; exit 1; }
    # The steps run in another directory: a relative path is taken from here.
    [[ "$DVX" = /* || "$DVX" != */* ]] || DVX="$PWD/$DVX"
    echo "== using DVX=$DVX ($("$DVX" --version))"
else
    echo "== building dvx (cargo build --release; the first build takes several minutes)"
    # cargo shows its own progress (a bar on a terminal, one line per crate otherwise).
    cargo build --release --manifest-path "$ROOT/Cargo.toml"
    # Where cargo put it: CARGO_TARGET_DIR if set (a relative one is taken from here, as cargo
    # does), else the repository's target/.
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$PWD/$TARGET_DIR"
    DVX="$TARGET_DIR/release/dvx"
fi
# `dvx` in the steps below is the binary just built, or $DVX.
dvx() { "$DVX" "$@"; }
# Prints a step as it would be typed (arguments with spaces quoted), then runs it.
step() {
    local shown="" a
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./=:~@^+-]+$ ]]; then
            shown+=" $a"
        else
            shown+=" \"$a\""
        fi
    done
    printf '\n$%s\n' "$shown"
    "$@"
}
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dvx-demo.XXXXXX")"
cd "$WORK"
echo
echo "== demo repository: $WORK"
step git init -q -b main
git config user.email demo@example.com
git config user.name "dvx demo"

echo
echo "== a dataset from a seeded RNG: data/table.csv (200,000 rows), data/model.bin (8 MiB),"
echo "   300 small files in data/images/"
python3 - <<'PY'
import os, random
rng = random.Random(42)
os.makedirs("data/images", exist_ok=True)
with open("data/table.csv", "w") as f:
    f.write("id,value,label\n")
    for i in range(200_000):
        f.write(f"{i},{rng.random():.6f},{rng.choice(['cat','dog','bird'])}\n")
with open("data/model.bin", "wb") as f:
    f.write(rng.randbytes(8 << 20))
for i in range(300):
    with open(f"data/images/img{i:04}.raw", "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 16384)))
PY

step dvx init
step dvx add data -m "raw export" --meta source=demo
step git commit -qm "data v1"
V1=$(dvx id data)
echo "== v1 id (dvx id data): $V1"

echo
echo "== edit: 10 rows changed and 1 inserted in the CSV, 4 KiB of model.bin patched,"
echo "   data/images/new.raw added, data/images/img0000.raw deleted"
python3 - <<'PY'
import random
rng = random.Random(7)
lines = open("data/table.csv").read().splitlines(keepends=True)
for i in range(1000, 1010):
    lines[i] = f"{i},0.5,edited\n"
lines.insert(100_000, "100000.5,0.25,inserted\n")
open("data/table.csv", "w").writelines(lines)
with open("data/model.bin", "r+b") as f:
    f.seek(4 << 20)
    f.write(rng.randbytes(4096))
open("data/images/new.raw", "wb").write(rng.randbytes(5000))
PY
rm data/images/img0000.raw
step dvx status
step dvx add data -m "cleaned"
step git commit -qm "data v2"
step dvx log data
step dvx diff HEAD~1 HEAD data

echo
echo "== back to v1"
step dvx checkout HEAD~1 data
step dvx id data
test "$(dvx id data)" = "$V1" && echo "== the id is v1's again: the data is byte-identical"
step dvx status
echo
echo "== and forward to v2"
step dvx checkout HEAD data
step dvx status
echo
echo "== git checkout, then dvx checkout: the data follows the commit"
step git checkout -q HEAD~1
step dvx checkout
test "$(dvx id data)" = "$V1" && echo "== data is v1 again"
echo
echo "== store: $(du -sh .dvx/store | cut -f1) for two versions of $(du -sh --exclude=.dvx data | cut -f1) of data"
echo "demo OK ($WORK)"
