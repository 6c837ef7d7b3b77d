#!/usr/bin/env bash
# Stop the emulator that up.sh started (same LOCALSTACK_PORT / LOCALSTACK_RUN_DIR): its whole process group
# by the recorded pid (SIGTERM, then SIGKILL after LOCALSTACK_STOP_TIMEOUT seconds), or the compose project
# in Docker mode. Stopping something that is not running is not an error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${LOCALSTACK_PORT:-4566}
RUN_DIR=${LOCALSTACK_RUN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tfcontroller/localstack-run-$PORT}
STOP_TIMEOUT=${LOCALSTACK_STOP_TIMEOUT:-20}

log() { printf 'localstack/down.sh: %s\n' "$*" >&2; }

mode=$(cat "$RUN_DIR/mode" 2>/dev/null || echo none)
if [ "$mode" = docker ]; then
    LOCALSTACK_PORT=$PORT docker compose -f "$HERE/docker-compose.yml" -p "tfcontroller-localstack-$PORT" down -v
    rm -f "$RUN_DIR/mode"
    log "stopped the docker compose project"
    exit 0
fi

if [ ! -f "$RUN_DIR/emulator.pid" ]; then
    log "nothing to stop (no pid file in $RUN_DIR)"
    exit 0
fi
pid=$(cat "$RUN_DIR/emulator.pid")
# up.sh starts the emulator with setsid, so its pid is also its process group id.
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $mode (pid $pid)"
else
    log "pid $pid is not running any more"
fi
# Children left in the group (none expected) are not waited for beyond the group signal above.
kill -KILL -- "-$pid" 2>/dev/null || true
rm -f "$RUN_DIR/emulator.pid" "$RUN_DIR/mode"
