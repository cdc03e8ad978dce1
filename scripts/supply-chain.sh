#!/usr/bin/env bash
# Supply-chain checks and SBOMs (docs/SUPPLY_CHAIN.md says what each means):
#   1. cargo deny (policy in deny.toml): licences, bans (duplicate versions,
#      crates we refuse), sources (crates.io only); plus the RustSec
#      advisories where their database, a git repository on GitHub, can be
#      fetched;
#   2. no crate version in Cargo.lock yanked from crates.io (scripts/yanked.py,
#      which needs only the crates.io index);
#   3. CycloneDX 1.5 SBOMs (scripts/sbom.py), validated against the schema:
#        target/sbom/prism.cdx.json        the `prism` binary,
#        target/sbom/prism-image.cdx.json  the container image.
#
# Usage: scripts/supply-chain.sh [--advisories | --no-advisories]
#   (neither)        advisories checked when the database can be fetched,
#                    else skipped with a notice saying so;
#   --advisories     checked; failing to fetch the database fails the run;
#   --no-advisories  not checked.
# Environment:
#   PRISM_ADVISORY_DB  git URL or local clone of the RustSec advisory-db to
#                      use instead of GitHub's (a mirror, or a copy carried
#                      onto a machine without GitHub).
#   PRISM_IMAGE        the image to describe (default localhost/prism:test,
#                      which scripts/test-image.sh builds). When podman or the
#                      image is missing the image SBOM is skipped, except
#                      under CI=true, where that fails.
#   PRISM_TOOLS        where cargo-deny is installed, and found on later runs
#                      (default ~/.cache/prism-tools: outside the checkout,
#                      so CI's fresh clones reuse it on the same machine).
# Expects the built-in plugins (scripts/build-plugins.sh), target/release/prism
# and the Python venv (scripts/setup-python.sh): scripts/test.sh makes them
# first.
set -euo pipefail
cd "$(dirname "$0")/.."

advisories=auto
case ${1:-} in
  --advisories) advisories=yes ;;
  --no-advisories) advisories=no ;;
  "") ;;
  *) echo "usage: $0 [--advisories | --no-advisories]" >&2; exit 2 ;;
esac

DENY_VERSION=0.20.2
IMAGE=${PRISM_IMAGE:-localhost/prism:test}
TOOLS=${PRISM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-tools}
ADVISORY_DB=${PRISM_ADVISORY_DB:-https://github.com/RustSec/advisory-db}
OUT=target/sbom
PY=.venv/bin/python
say() { printf 'supply-chain: %s\n' "$*" >&2; }

# --- cargo-deny, built from crates.io at a pinned version --------------------
deny=$TOOLS/cargo-deny-$DENY_VERSION/bin/cargo-deny
if [[ ! -x $deny ]]; then
  say "installing cargo-deny $DENY_VERSION into ${deny%/bin/*} (once per machine)"
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  # A debug build without debug info: a third of the CPU time of its release
  # profile even without that profile's fat LTO (about 3 against 8
  # CPU-minutes), and the checks still take seconds. Its own target
  # directory keeps the workspace's build cache out of it.
  CARGO_INCREMENTAL=0 cargo install --locked --quiet cargo-deny --version "$DENY_VERSION" \
    --root "${deny%/bin/*}" --target-dir "$build" --debug --config 'profile.dev.debug=0'
  rm -rf "$build"
fi

# --- 1. cargo deny ---------------------------------------------------------------
config=deny.toml
checks=(bans licenses sources)
if [[ $advisories == auto ]]; then
  if timeout 30 git ls-remote --exit-code "$ADVISORY_DB" HEAD >/dev/null 2>&1; then
    advisories=yes
  else
    say "advisories NOT CHECKED: the RustSec database ($ADVISORY_DB) cannot be fetched from here;" \
      "where it can: scripts/supply-chain.sh --advisories (docs/SUPPLY_CHAIN.md)"
  fi
fi
offline=()
if [[ $advisories == yes ]]; then
  checks+=(advisories)
  if [[ -d ${PRISM_ADVISORY_DB:-} ]]; then
    # A local copy: cargo-deny fetches only from URLs with a host name, so
    # put the copy where it would have fetched GitHub's to (the directory
    # name is cargo-deny's hash of the default URL) and forbid fetching.
    dbs=$PWD/target/advisory-dbs
    rm -rf "$dbs" && mkdir -p "$dbs"
    git clone --quiet --depth 1 "file://$(cd "$PRISM_ADVISORY_DB" && pwd)" "$dbs/advisory-db-3157b0e258782691"
    config=target/deny-advisory-copy.toml
    sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$dbs\"|" deny.toml >"$config"
    offline=(--offline)
  elif [[ -n ${PRISM_ADVISORY_DB:-} ]]; then
    # A mirror: the same policy, fetched from there.
    config=target/deny-advisory-mirror.toml
    sed "s|^db-urls = .*|db-urls = [\"$ADVISORY_DB\"]|" deny.toml >"$config"
  fi
fi
say "cargo deny check ${checks[*]}"
"$deny" --locked "${offline[@]}" --color never --config "$config" check --show-stats "${checks[@]}"

# --- 2. yanked crates --------------------------------------------------------------
python3 scripts/yanked.py Cargo.lock

# --- 3. SBOMs ------------------------------------------------------------------------
[[ -x target/release/prism ]] || { say "target/release/prism is missing: cargo build --release --locked --bin prism"; exit 1; }
ls target/plugins/builtin/*.wasm >/dev/null 2>&1 ||
  { say "the built-in plugins are missing: scripts/build-plugins.sh"; exit 1; }
python3 scripts/sbom.py binary --binary target/release/prism --out "$OUT/prism.cdx.json"
boms=("$OUT/prism.cdx.json")

if command -v podman >/dev/null && podman image exists "$IMAGE"; then
  python3 scripts/sbom.py image --binary-sbom "$OUT/prism.cdx.json" --image "$IMAGE" \
    --out "$OUT/prism-image.cdx.json"
  boms+=("$OUT/prism-image.cdx.json")
elif [[ ${CI:-} == true ]]; then
  say "no image $IMAGE to describe (scripts/test-image.sh builds it)"
  exit 1
else
  rm -f "$OUT/prism-image.cdx.json"  # an older image's, if any
  say "image SBOM skipped: no image $IMAGE (scripts/test-image.sh builds it)"
fi

"$PY" scripts/sbom.py validate "${boms[@]}"
