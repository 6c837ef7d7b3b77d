#!/usr/bin/env bash
# Start an AWS emulator for tests and the demo on 127.0.0.1:${LOCALSTACK_PORT:-4566}.
#
#   AWS_EMULATOR=localstack (default)  LocalStack: in Docker when `docker info` works, otherwise in host
#                                      mode from a venv built from requirements.lock (cached outside the clone)
#   AWS_EMULATOR=moto                  moto_server from the project's .venv (Python 3.11, starts in ~1 s)
#
# Environment knobs (all optional):
#   LOCALSTACK_PORT           port to listen on (default 4566)
#   LOCALSTACK_RUN_DIR        where the pid file, log and emulator state go
#                             (default ${XDG_CACHE_HOME:-$HOME/.cache}/tfcontroller/localstack-run-<port>)
#   LOCALSTACK_MODE           auto (default) | host | docker
#   LOCALSTACK_PYTHON         interpreter (>= 3.12) for host mode; default: found on PATH or through pyenv
#   LOCALSTACK_START_TIMEOUT  seconds to wait for the health endpoint (default 120)
#   TFC_VENV                  the project's venv holding moto_server (default <clone>/.venv)
# Prints `endpoint=<url> emulator=<name> mode=<mode>` on success; exits non-zero with the log tail otherwise.
# `up.sh --install-only` builds the host-mode venv (if missing) and prints its path, starting nothing:
# CI can run it before the tests so that no test's time budget pays for the install.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
EMULATOR=${AWS_EMULATOR:-localstack}
PORT=${LOCALSTACK_PORT:-4566}
HOST=127.0.0.1
ENDPOINT="http://$HOST:$PORT"
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/tfcontroller
RUN_DIR=${LOCALSTACK_RUN_DIR:-$CACHE_ROOT/localstack-run-$PORT}
START_TIMEOUT=${LOCALSTACK_START_TIMEOUT:-120}
SERVICES_LIST=s3,iam,sts,dynamodb,sqs,ses

log() { printf 'localstack/up.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The URL that proves the emulator serves requests.
health_url() {
    if [ "$1" = moto ]; then echo "$ENDPOINT/moto-api/data.json"; else echo "$ENDPOINT/_localstack/health"; fi
}

answers() { curl -sf -o /dev/null --max-time 2 "$1"; }

pid_alive() { [ -f "$RUN_DIR/emulator.pid" ] && kill -0 "$(cat "$RUN_DIR/emulator.pid")" 2>/dev/null; }

# Interpreter for host mode: LocalStack needs >= 3.12 (the lock was verified on 3.13). pyenv shims exist
# for every installed version but fail unless that version is active, so each candidate is run, not trusted.
find_python() {
    local candidate resolved version
    local check='import sys; assert sys.version_info[:2] in ((3, 13), (3, 12)); print(sys.executable)'
    if [ -n "${LOCALSTACK_PYTHON:-}" ]; then
        "$LOCALSTACK_PYTHON" -c "$check" 2>/dev/null || die "LOCALSTACK_PYTHON=$LOCALSTACK_PYTHON is not Python 3.12/3.13"
        return
    fi
    for candidate in python3.13 python3.12 python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if resolved=$("$candidate" -c "$check" 2>/dev/null); then echo "$resolved"; return; fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[23](\.[0-9]+)*$' | sort -rV); do
            candidate="$(pyenv root)/versions/$version/bin/python3"
            if resolved=$("$candidate" -c "$check" 2>/dev/null); then echo "$resolved"; return; fi
        done
    fi
    die "no Python 3.12 or 3.13 found (PATH, pyenv); set LOCALSTACK_PYTHON"
}

# Build (once) the host-mode venv, keyed by the lock, the DynamoDB plugin source and the Python version.
ensure_venv() {
    local python=$1 pyver key venv started plugin_tmp
    pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    key=$(cat "$HERE/requirements.lock" "$HERE"/moto-dynamodb/pyproject.toml "$HERE"/moto-dynamodb/*.py \
        | sha256sum | cut -c1-16)
    venv="$CACHE_ROOT/localstack-venv-py$pyver-$key"
    mkdir -p "$CACHE_ROOT"
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$venv/.complete" ]; then
        started=$(now)
        log "building $venv from requirements.lock (first run only; takes a few minutes)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --no-deps -r "$HERE/requirements.lock" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
        # Installed from a copy so that the build leaves no egg-info or build/ in the clone.
        plugin_tmp=$(mktemp -d)
        cp "$HERE"/moto-dynamodb/pyproject.toml "$HERE"/moto-dynamodb/*.py "$plugin_tmp/"
        "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation "$plugin_tmp" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
        rm -rf "$plugin_tmp"
        "$venv/bin/python" -c 'import localstack.runtime.main, tfcontroller_localstack_moto_dynamodb'
        touch "$venv/.complete"
        log "venv built in $(elapsed "$started")s"
    fi
    flock -u 9
    echo "$venv"
}

wait_healthy() {
    local url=$1 deadline=$((SECONDS + START_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        if answers "$url"; then return 0; fi
        if [ -f "$RUN_DIR/emulator.pid" ] && ! pid_alive; then
            log "the emulator exited during start-up; log tail:"; tail -n 40 "$RUN_DIR/emulator.log" >&2 || true
            return 1
        fi
        sleep 0.3
    done
    log "no answer from $url within ${START_TIMEOUT}s; log tail:"; tail -n 40 "$RUN_DIR/emulator.log" >&2 || true
    return 1
}

# Start a process in its own session (so down.sh can stop the whole process group) and record its pid.
spawn() {
    setsid "$@" >"$RUN_DIR/emulator.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/emulator.pid"
}

start_host() {
    local python venv
    python=$(find_python)
    venv=$(ensure_venv "$python")
    rm -rf "$RUN_DIR/filesystem"
    mkdir -p "$RUN_DIR/filesystem"
    spawn env SERVICES="$SERVICES_LIST" \
        OVERRIDE_IN_DOCKER=0 DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
        GATEWAY_LISTEN="$HOST:$PORT" \
        PROVIDER_OVERRIDE_DYNAMODB=moto \
        FILESYSTEM_ROOT="$RUN_DIR/filesystem" \
        LOCALSTACK_VOLUME_DIR="$RUN_DIR/volume" \
        "$venv/bin/python" -m localstack.runtime.main
}

start_docker() {
    LOCALSTACK_PORT=$PORT docker compose -f "$HERE/docker-compose.yml" -p "tfcontroller-localstack-$PORT" up -d --wait \
        >"$RUN_DIR/emulator.log" 2>&1 || { tail -n 40 "$RUN_DIR/emulator.log" >&2; return 1; }
}

start_moto() {
    local venv=${TFC_VENV:-$ROOT/.venv}
    [ -x "$venv/bin/moto_server" ] || die "$venv/bin/moto_server not found: run \`make setup\` (moto[server] is in the test extra)"
    spawn "$venv/bin/moto_server" -H "$HOST" -p "$PORT"
}

main() {
    local mode url started
    if [ "${1:-}" = --install-only ]; then
        ensure_venv "$(find_python)"
        return 0
    fi
    mkdir -p "$RUN_DIR"
    case "$EMULATOR" in
        moto) mode=moto ;;
        localstack)
            mode=${LOCALSTACK_MODE:-auto}
            if [ "$mode" = auto ]; then
                if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then mode=docker; else mode=host; fi
            fi ;;
        *) die "AWS_EMULATOR must be localstack or moto, not '$EMULATOR'" ;;
    esac
    url=$(health_url "$EMULATOR")

    if [ -f "$RUN_DIR/mode" ] && { pid_alive || [ "$(cat "$RUN_DIR/mode")" = docker ]; } && answers "$url"; then
        log "already running ($(cat "$RUN_DIR/mode")) at $ENDPOINT"
        echo "endpoint=$ENDPOINT emulator=$EMULATOR mode=$(cat "$RUN_DIR/mode")"
        return 0
    fi
    if answers "$ENDPOINT/_localstack/health" || answers "$ENDPOINT/moto-api/data.json"; then
        die "something not started from $RUN_DIR already answers on $ENDPOINT; stop it or set LOCALSTACK_PORT"
    fi
    rm -f "$RUN_DIR/emulator.pid"
    echo "$mode" > "$RUN_DIR/mode"

    started=$(now)
    case "$mode" in
        host) start_host ;;
        docker) start_docker ;;
        moto) start_moto ;;
        *) die "LOCALSTACK_MODE must be auto, host or docker, not '$mode'" ;;
    esac
    if ! wait_healthy "$url"; then
        bash "$HERE/down.sh" >&2 || true
        exit 1
    fi
    log "$EMULATOR ($mode) answers at $ENDPOINT after $(elapsed "$started")s; log: $RUN_DIR/emulator.log"
    echo "endpoint=$ENDPOINT emulator=$EMULATOR mode=$mode"
}

main "$@"
