#!/usr/bin/env bash
# DAST: schemathesis generates requests from Prism's own /openapi.json and
# checks every answer: no 5xx, every status and content type documented,
# every body matching the published schema. Two passes, each against a fresh
# server on an empty data directory:
#   open   no authentication (Chroma's default)
#   auth   Basic auth through the htpasswd plugin, requests authenticated
#          (so they reach the engine) — the auth layer must not change what
#          the schema promises
# Phases: coverage (boundary values of every parameter), fuzzing (random
# schema-valid and -invalid requests) and stateful (create, then use what was
# created, following the document's links).
#
# Usage: scripts/dast.sh [SECONDS_PER_PASS]   (default 75; results in target/dast/)
# Environment: PRISM_BIN (default target/release/prism).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-75}"
prism="${PRISM_BIN:-$PWD/target/release/prism}"
out="$PWD/target/dast"
venv="$PWD/.venv-dast"
[ -x "$prism" ] || { echo "dast: no prism binary at $prism (cargo build --release first)" >&2; exit 1; }

# schemathesis needs a newer hypothesis than Chroma's test suite pins, so it
# lives in its own venv; a stamp skips the install when nothing changed.
want="$(cat tests/dast/requirements.txt tests/dast/constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
    echo "dast: installing schemathesis into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip -q --disable-pip-version-check install \
        -r tests/dast/requirements.txt -c tests/dast/constraints.txt
    echo "$want" >"$venv/.stamp"
fi

rm -rf "$out"
mkdir -p "$out"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME [VAR=VALUE...]: a fresh server; sets $url.
start_server() {
    local name="$1"
    shift
    local port
    port="$(free_port)"
    env "$@" ALLOW_RESET=TRUE RUST_LOG=warn \
        "$prism" run --host 127.0.0.1 --port "$port" --path "$out/$name-data" \
        >"$out/$name-server.log" 2>&1 &
    server_pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 100); do
        curl -fsS "$url/api/v2/heartbeat" >/dev/null 2>&1 && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "dast: server ($name) did not start:" >&2
    cat "$out/$name-server.log" >&2
    exit 1
}

stop_server() {
    local name="$1"
    kill -TERM "$server_pid"
    if ! wait "$server_pid"; then
        echo "dast: server ($name) did not stop cleanly:" >&2
        tail -50 "$out/$name-server.log" >&2
        exit 1
    fi
    server_pid=""
    # A panic is a failure even if every answer looked right.
    if grep -q "panicked" "$out/$name-server.log"; then
        echo "dast: server ($name) panicked:" >&2
        grep -A5 "panicked" "$out/$name-server.log" >&2
        exit 1
    fi
}

# Server-side checks only: schemathesis's positive/negative data checks test
# that the schema is as strict as the server, and Chroma's schema (which
# Prism's follows) leaves name rules and filter grammar to the server.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

# run_pass NAME [CONFIG_FILE|-] [st run options...]
# A failed check fails the pass. A run that ends in schemathesis's own error
# (Hypothesis on this Python sometimes trips over its source inspection:
# "AST constructor recursion depth mismatch") is run once more; a server that
# died is caught by stop_server.
run_pass() {
    local name="$1" config=()
    [ "$2" != - ] && config=(--config-file "$2")
    shift 2
    local attempt status
    for attempt in 1 2; do
        echo "dast: pass '$name' for ${seconds}s against $url"
        status=0
        "$venv/bin/st" --no-color "${config[@]}" run "$url/openapi.json" \
            --checks "$checks" \
            --phases coverage,fuzzing,stateful \
            --max-time "$seconds" \
            --workers 2 \
            --suppress-health-check all \
            "$@" >"$out/$name.txt" 2>&1 || status=$?
        sed -n '/SUMMARY/,$p' "$out/$name.txt"
        [ "$status" -eq 0 ] && return 0
        if grep -q '^Failures:' "$out/$name.txt" || ! grep -q '^Errors:' "$out/$name.txt"; then
            break
        fi
        echo "dast: pass '$name' ended in a schemathesis error, not a failed check (attempt $attempt)" >&2
        grep -A3 '^Runtime Error' "$out/$name.txt" | cut -c1-300 >&2 || true
    done
    echo "dast: pass '$name' failed (exit $status); full report in $out/$name.txt" >&2
    grep -B2 -A25 "^___" "$out/$name.txt" | cut -c1-400 | head -200 >&2
    exit 1
}

start_server open
run_pass open -
stop_server open

password="dast-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$password" | "$prism" htpasswd add --cost 4 "$out/users.htpasswd" dast >/dev/null 2>&1
start_server auth \
    CHROMA_SERVER_AUTHN_PROVIDER=htpasswd \
    CHROMA_SERVER_AUTHN_CREDENTIALS_FILE="$out/users.htpasswd"
# Without credentials every non-public route must refuse.
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v2/tenants/default_tenant/databases")"
[ "$code" = 403 ] || { echo "dast: unauthenticated request got $code, not 403" >&2; exit 1; }
run_pass auth - --auth "dast:$password"
stop_server auth

echo "dast: no failures"
