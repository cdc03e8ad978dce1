#!/usr/bin/env bash
# Create .venv at the repository root with the Python packages the tests need
# (tests/requirements.txt, exact versions from tests/constraints.txt).
#
# Idempotent: a stamp file inside .venv records a hash of the requirement
# files and the interpreter; when it matches, nothing is done.
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3.11 if
#            present, else python3)
#   VENV     venv directory (default: <repo>/.venv)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-$PWD/.venv}"
REQ=tests/requirements.txt
CON=tests/constraints.txt
STAMP="$VENV/.prism-requirements.stamp"

if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || { echo "setup-python: $PYTHON not found" >&2; exit 1; }

want="$({ cat "$REQ" "$CON"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
    "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("chromadb", "pytest", "hypothesis")))' >/dev/null 2>&1; then
    echo "setup-python: $VENV is up to date"
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
fail() { echo "setup-python: $*" >&2; cat "$log" >&2; exit 1; }

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

if ! venv_ok; then
    echo "setup-python: creating $VENV with $PYTHON"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV" >"$log" 2>&1; then
        # Debian without python3-venv: no ensurepip. Make the venv without pip
        # and let the system pip install pip into it; failing that, install
        # python3-venv with apt when we are root.
        rm -rf "$VENV"
        if "$PYTHON" -m venv --without-pip "$VENV" >>"$log" 2>&1 &&
            "$PYTHON" -m pip --python "$VENV/bin/python" install -q --disable-pip-version-check pip >>"$log" 2>&1; then
            :
        elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            rm -rf "$VENV"
            ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            { apt-get update -qq && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" ||
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }; } >>"$log" 2>&1 ||
                fail "could not install python3-venv"
            "$PYTHON" -m venv "$VENV" >>"$log" 2>&1 || fail "python -m venv failed"
        else
            fail "python -m venv failed (install the python3-venv package)"
        fi
    fi
fi

# The Python plugin tutorial and tests make virtual environments of their own,
# with pip (`python3 -m venv`, and the test venv's interpreter): that needs
# ensurepip, which Debian ships in python3-venv.
for py in "$PYTHON" python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    "$py" -c 'import ensurepip' >/dev/null 2>&1 && continue
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        echo "setup-python: installing python$ver-venv (plugin projects make venvs with pip)"
        { apt-get update -qq && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" ||
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }; } >>"$log" 2>&1 ||
            fail "could not install python3-venv"
    else
        fail "$py has no ensurepip: install the python3-venv package"
    fi
done

echo "setup-python: installing $(grep -cvE '^\s*(#|$)' "$REQ") pinned packages into $VENV"
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check --no-input)
"${PIP[@]}" install -r "$REQ" -c "$CON" >"$log" 2>&1 || fail "pip install failed"
"$VENV/bin/python" -c 'import chromadb, pytest, hypothesis, numpy, fastapi, psutil' >"$log" 2>&1 ||
    fail "installed packages do not import"
echo "$want" >"$STAMP"
echo "setup-python: done"
