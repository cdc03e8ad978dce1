#!/usr/bin/env bash
# Start Prism with zero configuration: builds the built-in plugins and the
# release binary when needed, then runs `prism run` (data in ./prism-data,
# listening on localhost:8000). Chroma's auth variables work as they are,
# e.g. CHROMA_SERVER_AUTHN_PROVIDER=htpasswd CHROMA_SERVER_AUTHN_CREDENTIALS_FILE=users.htpasswd.
# Extra arguments go to `prism run`, e.g. scripts/run.sh --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-deps.sh >&2
scripts/build-plugins.sh >&2
cargo build --release --locked --bin prism >&2
exec target/release/prism run "$@"
