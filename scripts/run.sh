#!/usr/bin/env bash
# Start Prism with zero configuration: builds the release binary when needed,
# then runs `prism run` (data in ./prism-data, listening on localhost:8000).
# Extra arguments go to `prism run`, e.g. scripts/run.sh --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin prism >&2
exec target/release/prism run "$@"
