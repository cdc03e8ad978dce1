#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of Prism's parsers and decoders: builds
# every target of fuzz/ in one instrumented build, runs each for
# SECONDS_PER_TARGET (default 30), prints executions and coverage per
# target, and fails on any crash, leak, timeout or out-of-memory.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   scripts/fuzz.sh --plugin-boundary [SECONDS]   # also the wasmtime-backed target
#
# The build is what `cargo fuzz build` does (cargo-fuzz's flags: sancov
# instrumentation, AddressSanitizer, debug assertions, `--cfg fuzzing`),
# driven directly so that nothing needs installing: the stable toolchain
# takes the nightly flags with RUSTC_BOOTSTRAP=1, and libfuzzer-sys compiles
# libFuzzer with the system C++ compiler. fuzz/ keeps cargo-fuzz's layout, so
# `cargo fuzz run <target>` works too where cargo-fuzz is installed
# (`cargo install cargo-fuzz --locked`); fuzz/README.md has the details.
#
# Inputs found to be new go to target/fuzz/corpus/<target> (kept between
# runs, never into the checked-in seeds); a crash is written under
# target/fuzz/artifacts/<target>/ and the script prints how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
plugin_boundary=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --plugin-boundary) plugin_boundary=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
if ((${#targets[@]} == 0)); then
  targets=(filter requests auth_config auth_request saved_graph)
  ((plugin_boundary)) && targets+=(plugin_boundary)
fi

host=$(rustc -vV | sed -n 's/^host: //p')
# cargo-fuzz's flags (`cargo fuzz build`), with two changes that make the
# build fit CI: coverage instrumentation only for Prism's own crates (the
# targets run several times faster without it in serde, regex and the
# rest, and libFuzzer's feedback is about our code), and opt-level 1 (from
# fuzz/Cargo.toml) instead of cargo-fuzz's 3 with one codegen unit.
# AddressSanitizer, debug assertions and `--cfg fuzzing` apply to every
# crate; `--target` keeps build scripts and proc macros plain.
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="--cfg fuzzing -Zsanitizer=address -Cdebug-assertions"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
export CARGO_TARGET_DIR="$PWD/fuzz/target"
coverage='["-Cpasses=sancov-module",
  "-Cllvm-args=-sanitizer-coverage-level=4",
  "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
  "-Cllvm-args=-sanitizer-coverage-pc-table",
  "-Cllvm-args=-sanitizer-coverage-trace-compares",
  "-Cllvm-args=-sanitizer-coverage-stack-depth",
  "-Cllvm-args=-simplifycfg-branch-fold-threshold=0"]'
instrumented=(prism-fuzz prism-engine prism-plugin-sdk prism-plugin-htpasswd prism-plugin-token prism-plugin-rbac)
build_args=(--manifest-path fuzz/Cargo.toml --release --target "$host" --bins)
if ((plugin_boundary)); then
  instrumented+=(prism-plugin-host)
  build_args+=(--features plugin-host)
  # Its own directory: wasmtime's dependencies change features of crates
  # the other targets share, which would rebuild them back and forth.
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/plugin-host"
fi
for package in "${instrumented[@]}"; do
  build_args+=(--config "profile.release.package.$package.rustflags=$coverage")
done

step() { printf '\n==> %s\n' "$*"; }

step "build (fuzz/, its own workspace and target directory)"
start=$(date +%s)
# Not --locked: a dependency new to the engine or a plugin would otherwise
# fail CI until fuzz/Cargo.lock is refreshed by hand; cargo adds it and
# changes nothing already locked.
cargo -Zprofile-rustflags build "${build_args[@]}"
echo "build: $(($(date +%s) - start)) s"
if ! git diff --quiet -- fuzz/Cargo.lock 2>/dev/null; then
  echo "note: fuzz/Cargo.lock changed (a new dependency); commit it"
fi
bin_dir="$CARGO_TARGET_DIR/$host/release"

if ((plugin_boundary)); then
  # Built from the same sources as the native side, or the two differ by
  # whatever changed since the last plugin build.
  step "plugins for plugin_boundary"
  scripts/build-plugins.sh
fi

# The engine's SQLite files and the saved graphs go to a scratch directory,
# on tmpfs when there is one (the engine fsyncs every commit).
scratch_root=/dev/shm
[[ -d $scratch_root && -w $scratch_root ]] || scratch_root=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_root/prism-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# plugin_boundary's first input compiles the plugins (wasmtime under
# AddressSanitizer: tens of seconds), which is not a hang.
declare -A timeout=([plugin_boundary]=600)
declare -A dict=([filter]=filter [requests]=requests [auth_config]=auth [auth_request]=auth [plugin_boundary]=auth)

# One target: its libFuzzer run, then its summary line in $scratch/$t.line
# and its exit status in $scratch/$t.status.
run_target() {
  local t=$1 log="$scratch/$1.log" status=ok
  local corpus="target/fuzz/corpus/$t" artifacts="target/fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "fuzz/corpus/$t"
  local args=(
    -max_total_time="$seconds"
    # A leak or a runaway allocation is a failure: parsers of untrusted
    # bytes must not reserve what the bytes cannot justify.
    -rss_limit_mb=2048
    -malloc_limit_mb=512
    -timeout="${timeout[$t]:-20}"
    -max_len=8192
    -print_final_stats=1
    -artifact_prefix="$artifacts/"
  )
  [[ -n ${dict[$t]:-} ]] && args+=(-dict="fuzz/dicts/${dict[$t]}.dict")
  local inputs=("$corpus" "fuzz/corpus/$t")
  # Inputs that once crashed a target, replayed first thing every run.
  [[ -d fuzz/regressions/$t ]] && inputs+=("fuzz/regressions/$t")
  TMPDIR="$scratch" "$bin_dir/$t" "${args[@]}" "${inputs[@]}" >"$log" 2>&1 || status=FAILED
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  local cov
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  printf '%-16s %-6s execs %-9s (%s/s)  %s  corpus +%s  peak %s MB\n' \
    "$t" "$status" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "${cov:-cov: ?}" "$(stat new_units_added)" "$(stat peak_rss_mb)" >"$scratch/$t.line"
  echo "$status" >"$scratch/$t.status"
}

# As many targets at once as there are CPUs: each is one process.
jobs=$(nproc 2>/dev/null || echo 1)
step "fuzz ${targets[*]}: ${seconds}s each, $jobs at a time"
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run_target "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  if [[ $(cat "$scratch/$t.status" 2>/dev/null) != ok ]]; then
    failed+=("$t")
    step "$t failed"
    grep -E 'ERROR|panicked|assertion|SUMMARY|Test unit written' "$scratch/$t.log" | head -20 || true
    tail -n 40 "$scratch/$t.log"
  fi
done

step "summary (${seconds}s per target)"
for t in "${targets[@]}"; do cat "$scratch/$t.line"; done
if ((${#failed[@]})); then
  echo
  echo "crashed: ${failed[*]}"
  echo "replay one: RUSTC_BOOTSTRAP=1 $bin_dir/<target> target/fuzz/artifacts/<target>/<crash-file>"
  echo "then make it a regression test (fuzz/README.md, \"When a target crashes\")."
  exit 1
fi
