#!/usr/bin/env bash
# A real browser for the web console's tests (tests/e2e/test_console_browser.py):
# Debian's `chromium` package, driven by Playwright for Python (installed by
# scripts/setup-python.sh from tests/requirements.txt). Playwright's own
# browser download needs its CDN; Debian's build comes from the package
# mirror, which is all a machine here can reach.
#
# Idempotent: installs with apt only when `chromium` is missing.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "setup-browser: $(chromium --version 2>/dev/null || echo chromium) is installed"
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
fail() { echo "setup-browser: $*" >&2; cat "$log" >&2; exit 1; }

echo "setup-browser: installing chromium (apt)"
sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >>"$log" 2>&1 || fail "apt-get install chromium failed"
chromium --version
