#!/usr/bin/env bash
# The scale benchmark at 10M files (issue 15), on a file system made for it.
#
#   sudo bash benches/scale-10m.sh [more scale.py options, e.g. --json scale-10m.json]
#
# 10M files of 200-2,048 bytes take a 4 KiB block each: 80 GB for the dataset and the clone
# that pull fills. An ext4 with inline_data and 1 KiB inodes keeps a file of up to about 850
# bytes inside its inode, so this makes such a file system in a sparse image (about 40 GB
# used at its peak), mounts it, runs benches/scale.py there with files of 200-800 bytes, and
# removes it. Needs root (mount -o loop) and mkfs.ext4. DVX_SCALE_KEEP=1 keeps the file system
# mounted and the work dirs in it (scale.py --keep), to run more commands there; then
# `umount <mount> && rm <image>` when done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
img=${DVX_SCALE_IMAGE:-/var/tmp/dvx-scale-10m.img}
mnt=${DVX_SCALE_MOUNT:-/mnt/dvx-scale-10m}
n=${DVX_SCALE_N:-10000000}

[ "$(id -u)" = 0 ] || { echo "scale-10m.sh: needs root (mount -o loop)" >&2; exit 2; }
[ ! -e "$img" ] || { echo "scale-10m.sh: $img exists; remove it (a run in progress?)" >&2; exit 2; }
mkdir -p "$mnt"
# Two trees of N files each (the dataset and pull's clone), with room for dirs and the stores.
inodes=$(( n * 21 / 10 + 100000 ))
truncate -s 60G "$img"
cleanup() { umount "$mnt" 2>/dev/null || true; rm -f "$img"; }
keep=()
if [ "${DVX_SCALE_KEEP:-}" = 1 ]; then keep=(--keep); else trap cleanup EXIT; fi
mkfs.ext4 -q -F -m 0 -O inline_data -I 1024 -N "$inodes" -E lazy_itable_init=1 "$img"
mount -o loop "$img" "$mnt"
python3 "$here/scale.py" --n "$n" --tools dvx --file-max 800 --disk-per-file 0 \
    --min-free-gb 2 --workdir "$mnt/work" "${keep[@]}" "$@"
