#!/usr/bin/env bash
# dvx demo on a fresh machine: builds dvx, makes a git repository with a generated dataset,
# versions it twice, and restores the first version. Uses only a local folder; no account.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
DVX="$ROOT/target/release/dvx"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dvx-demo.XXXXXX")"
cd "$WORK"
echo "== demo repository: $WORK"
git init -q -b main
git config user.email demo@example.com
git config user.name "dvx demo"

# A small dataset from a seeded RNG: a CSV, a binary file, nested small files.
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

"$DVX" init
"$DVX" add data -m "raw export" --meta source=demo
git commit -qm "data v1"
V1=$("$DVX" id data)
echo "== v1 id: $V1"

# Edit: change rows in the middle of the CSV, patch the binary, add and delete files.
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
"$DVX" status
"$DVX" add data -m "cleaned"
git commit -qm "data v2"
"$DVX" log data
"$DVX" diff HEAD~1 HEAD data

echo "== checkout v1"
"$DVX" checkout HEAD~1 data
test "$("$DVX" id data)" = "$V1"
"$DVX" status
echo "== and back to v2"
"$DVX" checkout HEAD data
"$DVX" status
git checkout -q HEAD~1 && "$DVX" checkout && echo "== git checkout HEAD~1 + dvx checkout: data is v1 again"
echo "== store: $(du -sh .dvx/store | cut -f1) for two versions of $(du -sh --exclude=.dvx data | cut -f1) of data"
echo "demo OK ($WORK)"
