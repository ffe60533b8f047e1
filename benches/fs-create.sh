#!/usr/bin/env bash
# What creating N small files costs the file system itself (issue 15: pull's time from 100k
# to 1M files against the file system's own): benches/fs_create.c, each way a checkout can
# create a file, each run on a freshly made ext4 image so that no earlier mass delete slows
# inode allocation (ext4's `recently_deleted` scan).
#
#   sudo bash benches/fs-create.sh                      # N = 100000,1000000; 2 runs each
#   sudo bash benches/fs-create.sh --n 100000,300000 --runs 3 --modes tmpfile,direct
#
# Needs root (mount -o loop), gcc and mkfs.ext4. Prints a markdown table: per N and way, the
# runs' seconds, and per way the growth from the first N to the last (best runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=100000,1000000
runs=2
modes=tmpfile,rename,direct
while [ $# -gt 0 ]; do
    case "$1" in
        --n) ns=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        *) echo "fs-create.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "fs-create.sh: needs root (mount -o loop)" >&2; exit 2; }
img=${DVX_FS_CREATE_IMAGE:-/var/tmp/dvx-fs-create.img}
mnt=${DVX_FS_CREATE_MOUNT:-/mnt/dvx-fs-create}
[ ! -e "$img" ] || { echo "fs-create.sh: $img exists; remove it (a run in progress?)" >&2; exit 2; }
work=$(mktemp -d)
cleanup() { umount "$mnt" 2>/dev/null || true; rm -f "$img"; rm -rf "$work"; }
trap cleanup EXIT
gcc -O2 -o "$work/fs_create" "$here/fs_create.c" -lm
mkdir -p "$mnt"
IFS=, read -r -a nlist <<< "$ns"
IFS=, read -r -a mlist <<< "$modes"
declare -A best all
for n in "${nlist[@]}"; do
    for r in $(seq "$runs"); do
        for m in "${mlist[@]}"; do # the ways take turns, so a slow minute hits them all
            umount "$mnt" 2>/dev/null || true
            rm -f "$img"
            truncate -s $(( (n / 100000 + 1) * 2 ))G "$img"
            mkfs.ext4 -q -F -m 0 -N $(( n + n / 2 + 10000 )) -E lazy_itable_init=0,lazy_journal_init=0 "$img"
            mount -o loop "$img" "$mnt"
            t=$("$work/fs_create" "$mnt/tree" "$n" "$m" | awk '{print $3}')
            echo "  $m $n: $t s" >&2
            all[$m,$n]="${all[$m,$n]:+${all[$m,$n]} / }$t"
            if [ -z "${best[$m,$n]:-}" ] || awk -v a="$t" -v b="${best[$m,$n]}" 'BEGIN{exit !(a<b)}'; then
                best[$m,$n]=$t
            fi
        done
    done
done
first=${nlist[0]}
last=${nlist[${#nlist[@]}-1]}
echo "| way | $(printf '%s s | ' "${nlist[@]}")growth $first -> $last (best) |"
echo "|---|$(printf -- '---|%.0s' "${nlist[@]}")---|"
for m in "${mlist[@]}"; do
    row="| $m |"
    for n in "${nlist[@]}"; do row+=" ${all[$m,$n]} |"; done
    g=$(awk -v a="${best[$m,$first]}" -v b="${best[$m,$last]}" 'BEGIN{printf "%.1fx", b/a}')
    echo "$row $g |"
done
