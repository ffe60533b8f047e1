#!/usr/bin/env bash
# Short fuzz run (CI): builds the cargo-fuzz targets once, then fuzzes each for
# DVX_FUZZ_SECONDS (default 20) from its seeds and regression inputs. Any crash, panic, leak,
# timeout (> 10 s for one input) or out-of-memory (> 512 MiB) fails. docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")"
secs="${DVX_FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# cargo fuzz passes -Z flags (sanitizer, coverage instrumentation) that stable rustc accepts
# only with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
work="$(mktemp -d "${TMPDIR:-/tmp}/dvx-fuzz-ci.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The index and store_config targets keep a scratch file in the temp dir.
export TMPDIR="$work"

cargo fuzz build
for target in $(cargo fuzz list); do
    args=(-max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -print_final_stats=1)
    case "$target" in
        pointer | store_config) args+=(-dict=dicts/toml.dict) ;;
    esac
    dirs=("$work/corpus/$target" "corpus/$target")
    [[ -d "regressions/$target" ]] && dirs+=("regressions/$target")
    mkdir -p "$work/corpus/$target"
    echo "-- fuzz $target (${secs}s)"
    # libFuzzer's progress lines are long and many: keep the log and show its end.
    if ! cargo fuzz run "$target" "${dirs[@]}" -- "${args[@]}" >"$work/$target.log" 2>&1; then
        tail -n 80 "$work/$target.log"
        echo "fuzz target $target failed: reproduce with the artifact named above" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$work/$target.log" || true
done
