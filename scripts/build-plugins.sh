#!/usr/bin/env bash
# Build every plugin as a wasm32-wasip2 component:
#   target/plugins/builtin/   the built-in providers (embedded into `prism`)
#   target/plugins/examples/  the example plugins
#   target/plugins/fixtures/  misbehaving plugins the tests load
#
# Uses rustup's wasm32-wasip2 target where it is installed; otherwise Debian's
# Rust with the standard library built from source (-Z build-std, below),
# installing those packages when missing (needs root and apt).
# Does nothing when the outputs are newer than every plugin source.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/plugins
# crate name[+cargo feature] -> output path
plugins=(
  "prism-plugin-htpasswd:builtin/htpasswd.wasm"
  "prism-plugin-token:builtin/token.wasm"
  "prism-plugin-rbac:builtin/rbac.wasm"
  "prism-example-api-keys:examples/api-keys.wasm"
  "prism-example-client-cert:examples/client-cert.wasm"
  "prism-example-read-only:examples/read-only.wasm"
  "my-prism-plugin:examples/template.wasm"
  "prism-fixture-misbehaving:fixtures/misbehaving.wasm"
  "prism-fixture-future-api:fixtures/future-api.wasm"
  "prism-fixture-versioned:fixtures/versioned-1.wasm"
  "prism-fixture-versioned+v2:fixtures/versioned-2.wasm"
)
sources=(wit plugin-sdk plugins examples/plugins tests/plugins Cargo.lock scripts/build-plugins.sh)

up_to_date() {
  local stamp=$out/.stamp
  [[ -f $stamp ]] || return 1
  [[ -z $(find "${sources[@]}" -newer "$stamp" -type f -print -quit) ]] || return 1
  for entry in "${plugins[@]}"; do [[ -f $out/${entry#*:} ]] || return 1; done
}

if [[ ${1:-} != --force ]] && up_to_date; then
  echo "plugins up to date in $out" >&2
  exit 0
fi

wasm_target_dir=target/wasm
# Plugins ship inside the binary: no debug info, stripped.
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true

if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  cargo_wasm() {
    cargo build --release --locked --target wasm32-wasip2 --target-dir "$wasm_target_dir" "$@"
  }
else
  need=()
  [[ -x /usr/bin/cargo && -x /usr/bin/rustc ]] || need+=(rustc-web cargo-web)
  [[ -d /usr/lib/rust-web-src || -n $(ls -d /usr/lib/rustlib/src 2>/dev/null) ]] || need+=(rust-web-src)
  dpkg -s rust-web-src rust-web-llvm lld-22 wasi-libc >/dev/null 2>&1 || need+=(rust-web-src rust-web-llvm lld-22 wasi-libc)
  if ((${#need[@]})); then
    echo "installing the wasm toolchain from Debian: ${need[*]}" >&2
    sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc >&2
  fi
  cargo_wasm() {
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS='-L /usr/lib/wasm32-wasi -C link-self-contained=no' \
      cargo build --release --locked --target wasm32-wasip2 -Z build-std=std,panic_abort \
      --target-dir "$wasm_target_dir" "$@"
  }
fi

# Copy the plugins of the last build: those without a feature, or the one
# with `feature`.
copy_built() {
  local feature=$1 entry crate dest
  for entry in "${plugins[@]}"; do
    crate=${entry%%:*}
    if [[ -n $feature ]]; then [[ $crate == *+"$feature" ]] || continue; else [[ $crate != *+* ]] || continue; fi
    crate=${crate%%+*}
    dest=$out/${entry#*:}
    mkdir -p "$(dirname "$dest")"
    cp "$wasm_target_dir/wasm32-wasip2/release/${crate//-/_}.wasm" "$dest"
  done
}

# All plain builds in one cargo run; each feature build after it, since it
# writes over the same artifact.
packages=()
for entry in "${plugins[@]}"; do
  crate=${entry%%:*}
  [[ $crate == *+* ]] || packages+=(-p "$crate")
done
cargo_wasm "${packages[@]}"
copy_built ""
for entry in "${plugins[@]}"; do
  crate=${entry%%:*}
  [[ $crate == *+* ]] || continue
  cargo_wasm -p "${crate%%+*}" --features "${crate#*+}"
  copy_built "${crate#*+}"
done
touch "$out/.stamp"
ls -l "$out"/*/*.wasm >&2
