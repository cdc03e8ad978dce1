#!/usr/bin/env bash
# Run Chroma's own test suite (shipped in the chromadb wheel installed in
# .venv) against a server started here on a free loopback port, and compare
# with the baseline of tests known to pass against the real Chroma.
#
# Usage: scripts/chroma-suite.sh [--target prism|chroma|gateway] [--update-baseline]
#                                [--keep] [TEST_PATH...] [-- PYTEST_ARGS...]
#
#   --target prism     (default) start $PRISM_BIN (default target/release/prism)
#                      as `prism run --host 127.0.0.1 --port P --path DIR`,
#                      with ALLOW_RESET=TRUE
#   --target chroma    start the real Chroma (`chroma run CONFIG.yaml`)
#   --target gateway   start the real Chroma and $PRISM_BIN in gateway mode in
#                      front of it (`prism run --upstream URL`); the suite
#                      talks to the gateway
#   --update-baseline  rewrite tests/chroma-suite/expected-pass.txt with the
#                      tests that passed in this run (use with --target chroma)
#   --keep             keep the temporary directory (server data, logs, results)
#   TEST_PATH          paths relative to site-packages (default: the list below)
#
# Files (tests/chroma-suite/):
#   deselect.txt       tests that cannot pass here even against real Chroma
#   expected-pass.txt  node ids that pass against real Chroma (the baseline)
#   flaky.txt          node ids seen to fail intermittently against real Chroma;
#                      reported, never counted as failures
#
# Environment: PRISM_BIN, CHROMA_SUITE_SEED (hypothesis seed, default 12345;
# "random" for a fresh one each run), PROPERTY_TESTING_PRESET (default fast).
#
# The last line of output is `chroma-suite: N passed, M failed`, N counting
# every passing test and M the tests of expected-pass.txt that did not pass.
# Exit status is non-zero when M > 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SUITE_DIR="$ROOT/tests/chroma-suite"

target=prism
update_baseline=0
keep=0
paths=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target="${2:?--target needs prism or chroma}"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        --update-baseline) update_baseline=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) paths+=("$1"); shift ;;
    esac
done
case "$target" in prism|chroma|gateway) ;; *) echo "chroma-suite: unknown target '$target'" >&2; exit 2 ;; esac

if [ ${#paths[@]} -eq 0 ]; then
    paths=(
        chromadb/test/api
        chromadb/test/client
        chromadb/test/configurations
        chromadb/test/test_api.py
        chromadb/test/test_client.py
        chromadb/test/property/test_add.py
        chromadb/test/property/test_embeddings.py
        chromadb/test/property/test_filtering.py
        chromadb/test/property/test_collections.py
        chromadb/test/property/test_collections_with_database_tenant.py
        chromadb/test/property/test_base64_conversion.py
        chromadb/test/property/test_client_url.py
    )
fi

scripts/setup-python.sh >/dev/null
PY="$ROOT/.venv/bin/python"
SITE="$("$PY" -c 'import chromadb, os; print(os.path.dirname(chromadb.__path__[0]))')"

work="$(mktemp -d "${TMPDIR:-/tmp}/chroma-suite.XXXXXX")"
server_pid=""
upstream_pid=""
cleanup() {
    if [ -n "$upstream_pid" ] && kill -0 "$upstream_pid" 2>/dev/null; then
        kill -TERM "$upstream_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then echo "chroma-suite: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
data="$work/data"
mkdir -p "$data"
log="$work/server.log"

# The server must not pick up settings meant for the test process.
server_env=(env -u CHROMA_SERVER_HOST -u CHROMA_SERVER_HTTP_PORT -u CHROMA_INTEGRATION_TEST_ONLY
    -u PERSIST_DIRECTORY -u IS_PERSISTENT -u CONFIG_PATH)
chroma_on() { # PORT DATA LOG: the real Chroma in the background
    local chroma
    chroma="$(dirname "$PY")/chroma"
    cat >"$work/config-$1.yaml" <<EOF
persist_path: "$2"
port: $1
listen_address: "127.0.0.1"
allow_reset: true
EOF
    # `chroma run --path/--port` cannot allow reset; the config file can.
    "${server_env[@]}" "$chroma" run "$work/config-$1.yaml" >"$3" 2>&1 &
}
if [ "$target" = chroma ]; then
    chroma_on "$port" "$data" "$log"
    server_pid=$!
    what="chroma ($(dirname "$PY")/chroma)"
else
    bin="${PRISM_BIN:-target/release/prism}"
    case "$bin" in /*) ;; *) bin="$ROOT/$bin" ;; esac
    if [ ! -x "$bin" ]; then
        echo "chroma-suite: Prism binary $bin not found (cargo build --release, or set PRISM_BIN)" >&2
        echo "chroma-suite: 0 passed, $(grep -cvE '^\s*(#|$)' "$SUITE_DIR/expected-pass.txt" || true) failed"
        exit 1
    fi
    gateway_args=()
    what="prism ($bin)"
    if [ "$target" = gateway ]; then
        upstream_port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
        mkdir -p "$work/upstream"
        chroma_on "$upstream_port" "$work/upstream" "$work/upstream.log"
        upstream_pid=$!
        gateway_args=(--upstream "http://127.0.0.1:$upstream_port")
        what="prism gateway ($bin) in front of chroma on port $upstream_port"
    fi
    "${server_env[@]}" ALLOW_RESET=TRUE RUST_LOG="${RUST_LOG:-warn}" \
        "$bin" run --host 127.0.0.1 --port "$port" --path "$data" "${gateway_args[@]}" >"$log" 2>&1 &
    server_pid=$!
fi

"$PY" - "$port" "$server_pid" <<'EOF' || { echo "chroma-suite: server did not start; log:" >&2; tail -n 40 "$log" >&2; exit 1; }
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
EOF

seed="${CHROMA_SUITE_SEED:-12345}"
seed_args=()
[ "$seed" != random ] && seed_args=(--hypothesis-seed="$seed")

echo "chroma-suite: target $what on port $port; running ${#paths[@]} test paths"
results="$work/results.txt"
start=$(date +%s)
set +e
(
    cd "$work"
    env CHROMA_INTEGRATION_TEST_ONLY=1 \
        CHROMA_SERVER_HOST=localhost \
        CHROMA_SERVER_HTTP_PORT="$port" \
        PROPERTY_TESTING_PRESET="${PROPERTY_TESTING_PRESET:-fast}" \
        HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" \
        ANONYMIZED_TELEMETRY=False \
        CHROMA_SUITE_DESELECT="$SUITE_DIR/deselect.txt" \
        CHROMA_SUITE_RESULTS="$results" \
        PYTHONPATH="$SUITE_DIR${PYTHONPATH:+:$PYTHONPATH}" \
        PATH="$ROOT/.venv/bin:$PATH" \
        "$PY" -m pytest -c "$SUITE_DIR/pytest.ini" --rootdir "$SITE" \
        -p suite_plugin -p no:cacheprovider -q -rfE --tb=line --no-header \
        "${seed_args[@]}" \
        "${paths[@]/#/$SITE/}" "${extra[@]}"
) >"$work/pytest.log" 2>&1
pytest_rc=$?
set -e
elapsed=$(( $(date +%s) - start ))

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "chroma-suite: WARNING: the server exited during the run; log tail:" >&2
    tail -n 40 "$log" >&2
fi
tail -n 1 "$work/pytest.log" | sed 's/^/pytest: /'
if [ ! -s "$results" ]; then
    echo "chroma-suite: pytest produced no results (exit $pytest_rc); output tail:" >&2
    tail -n 40 "$work/pytest.log" >&2
fi
touch "$results"

"$PY" - "$results" "$SUITE_DIR" "$update_baseline" "$elapsed" <<'EOF'
import sys
from collections import Counter
from pathlib import Path

results_path, suite_dir, update, elapsed = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])

def read_list(p):
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out

outcomes = {}
for line in Path(results_path).read_text().splitlines():
    outcome, _, nodeid = line.partition(" ")
    outcomes[nodeid] = outcome
counts = Counter(outcomes.values())
passed = {n for n, o in outcomes.items() if o == "passed"}
expected = read_list(suite_dir / "expected-pass.txt")
flaky = set(read_list(suite_dir / "flaky.txt"))

missing = [n for n in expected if n not in passed and n not in flaky]
flaky_failed = [n for n in expected if n not in passed and n in flaky]
flaky_failed += sorted(n for n in flaky if n not in expected and outcomes.get(n) in ("failed", "error"))
new_passes = sorted(passed - set(expected) - flaky)

summary = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected") if counts[k])
print(f"chroma-suite: outcomes: {summary or 'none'} in {elapsed // 60}m{elapsed % 60:02d}s")
if new_passes:
    print(f"chroma-suite: {len(new_passes)} passed that are not in expected-pass.txt")
if flaky_failed:
    print(f"chroma-suite: {len(flaky_failed)} known-flaky tests did not pass (ignored):")
    for n in flaky_failed:
        print(f"  flaky {outcomes.get(n, 'not run')}: {n}")
if missing:
    print(f"chroma-suite: {len(missing)} tests of expected-pass.txt did not pass:")
    for n in missing:
        print(f"  {outcomes.get(n, 'not run')}: {n}")
if update:
    header = (
        "# Tests of Chroma's own suite (chromadb 1.5.9 wheel) that pass against the real\n"
        "# Chroma server here: written by `scripts/chroma-suite.sh --target chroma --update-baseline`.\n"
        "# Known-flaky tests are listed in flaky.txt instead.\n"
    )
    keep = sorted(passed - flaky)
    (suite_dir / "expected-pass.txt").write_text(header + "".join(n + "\n" for n in keep))
    print(f"chroma-suite: wrote {len(keep)} node ids to expected-pass.txt")
    missing = []
print(f"chroma-suite: {len(passed)} passed, {len(missing)} failed")
sys.exit(1 if missing else 0)
EOF
