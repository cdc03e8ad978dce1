#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   0. the plugins (WebAssembly components) the binary embeds and the tests load,
#   1. formatting and clippy,
#   2. Rust unit tests (and the plugin host against the built plugins), and
#      the JavaScript and Python plugin SDKs' unit tests,
#   3. end-to-end tests: the real `prism` binary driven over HTTP by the real
#      chromadb==1.5.9 Python client (with plugins in Rust, JavaScript and
#      Python built by the pinned toolchains from npm and PyPI), and its web
#      console in headless Chromium (screenshots in target/console-screenshots),
#   4. Chroma's own test suite (from the chromadb wheel) against `prism`, and
#      through `prism` in gateway mode in front of the real `chroma run`; the
#      auth and console tests again in gateway mode (PRISM_E2E_TARGET=gateway),
#   5. smoke runs of the benchmark harnesses (bench/compare.py --smoke,
#      bench/import_rate.py --smoke),
#   6. the Docker image, linted, built with podman and run (scripts/test-image.sh),
#   7. DAST: schemathesis against /openapi.json, auth off and on (scripts/dast.sh),
#   8. coverage-guided fuzzing, bounded in time (scripts/fuzz.sh),
#   9. supply chain: cargo deny (licences, bans, sources; advisories where the
#      RustSec database is reachable), yanked crates, CycloneDX SBOMs of the
#      binary and the image in target/sbom (scripts/supply-chain.sh).
# Installs what a fresh machine lacks (wasm toolchain, apache2-utils for
# htpasswd files, libssl-dev and pkg-config for SQLCipher, Python venv and
# packages, Node.js and the JS chromadb client, Chromium for the console's
# browser tests, podman) on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }

step "system packages"
if ! command -v htpasswd >/dev/null 2>&1; then
  sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq apache2-utils
fi
scripts/build-deps.sh

step "Python test environment"
scripts/setup-python.sh
scripts/setup-js.sh
scripts/setup-browser.sh

step "plugins (wasm32-wasip2 components)"
scripts/build-plugins.sh

step "format and lint"
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "build"
cargo build --release --locked --workspace

step "Rust unit tests"
cargo test --release --locked --workspace

step "plugin SDKs for JavaScript and Python: unit tests, and their packages in target/sdk"
node --test plugin-sdk/js/test/
.venv/bin/python -m pytest plugin-sdk/python/tests -q -p no:cacheprovider
mkdir -p target/sdk
(cd plugin-sdk/js && npm pack --pack-destination ../../target/sdk --loglevel=error >/dev/null)
.venv/bin/python -m pip wheel --quiet --no-deps --wheel-dir target/sdk plugin-sdk/python
ls target/sdk

step "end-to-end tests (real binary, real chromadb client)"
PRISM_BIN="$PWD/target/release/prism" .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider

step "Chroma's own test suite against prism"
PRISM_BIN="$PWD/target/release/prism" scripts/chroma-suite.sh

step "gateway mode: the auth and console tests, and Chroma's own suite, through prism in front of chroma run"
PRISM_E2E_TARGET=gateway PRISM_BIN="$PWD/target/release/prism" .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
PRISM_BIN="$PWD/target/release/prism" scripts/chroma-suite.sh --target gateway

step "benchmark harness, smoke run (Prism, Chroma and a Prism gateway in front of Chroma, small N)"
.venv/bin/python bench/compare.py --smoke --gateway --prism "$PWD/target/release/prism" --out target/bench-smoke
.venv/bin/python bench/import_rate.py --smoke --prism "$PWD/target/release/prism" --out target/bench-smoke

step "Docker image (podman, runtime stage from the binary built above)"
scripts/test-image.sh

step "DAST: schemathesis against /openapi.json (auth off, auth on)"
PRISM_BIN="$PWD/target/release/prism" scripts/dast.sh 60

# CI time is bounded (under an hour on a fresh clone): the longer runs of
# both are in docs/RELIABILITY.md.
step "fuzzing: every target of fuzz/, 20 s each (scripts/fuzz.sh)"
scripts/fuzz.sh 20

step "supply chain: cargo deny, yanked crates, SBOMs (target/sbom)"
scripts/supply-chain.sh

step "all passed"
