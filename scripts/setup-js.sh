#!/usr/bin/env bash
# Node.js and the real JavaScript chromadb client (npm) for the e2e tests that
# read through it (tests/e2e/js_util.py runs tests/js/reads.mjs).
#
# Idempotent: installs nodejs and npm with apt only when `node` is missing, and
# runs `npm ci` in tests/js only when node_modules is missing or older than
# tests/js/package-lock.json. The client's optional native bindings (used only
# by its `chroma` CLI) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

JS_DIR=tests/js
LOCK="$JS_DIR/package-lock.json"
# npm ci writes this file last; it stands for the whole of node_modules.
STAMP="$JS_DIR/node_modules/.package-lock.json"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
fail() { echo "setup-js: $*" >&2; cat "$log" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1; then
    echo "setup-js: installing nodejs and npm (apt)"
    sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >>"$log" 2>&1 ||
        fail "apt-get install nodejs npm failed"
fi

command -v npm >/dev/null 2>&1 || fail "node is here but npm is not (install npm)"
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 20)) || echo "setup-js: warning: node $(node --version); the chromadb client declares node >= 20" >&2

if [ -f "$STAMP" ] && [ ! "$STAMP" -ot "$LOCK" ] && [ -d "$JS_DIR/node_modules/chromadb" ]; then
    echo "setup-js: $JS_DIR/node_modules is up to date"
    exit 0
fi

echo "setup-js: npm ci in $JS_DIR"
(cd "$JS_DIR" && npm ci --omit=optional --no-audit --no-fund --loglevel=error) >"$log" 2>&1 || fail "npm ci failed"
(cd "$JS_DIR" && node --input-type=module -e 'const m = await import("chromadb"); if (!m.ChromaClient) process.exit(1);') \
    >>"$log" 2>&1 || fail "the chromadb client does not import"
echo "setup-js: done"
