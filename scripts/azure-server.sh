#!/usr/bin/env bash
# The azure emulator for the remote tests: see scripts/emulator-server.sh (start|stop|env|status).
exec "$(dirname "${BASH_SOURCE[0]}")/emulator-server.sh" azure "$@"
