#!/usr/bin/env bash
# Build every plugin crate of the workspace as a wasm32-wasip2 component,
# under target/plugins/:
#   builtin/   the built-in providers (embedded into `prism`)
#   examples/  the example plugins
#   fixtures/  misbehaving plugins the tests load
#
# No list to edit: a plugin crate is a workspace member whose library is a
# cdylib (the workspace takes every directory under plugins/,
# examples/plugins/ and tests/plugins/). Its Cargo.toml says where its
# component goes, and which feature builds it also has:
#   [package.metadata.prism]
#   output = "fixtures/versioned-1.wasm"
#   feature-builds = { v2 = "fixtures/versioned-2.wasm" }
# Without that table the output follows the directory: plugins/NAME ->
# builtin/NAME.wasm, examples/plugins/NAME -> examples/NAME.wasm,
# tests/plugins/NAME -> fixtures/NAME.wasm.
#
# Uses rustup's wasm32-wasip2 target where it is installed; otherwise Debian's
# Rust with the standard library built from source (-Z build-std, below),
# installing those packages when missing (needs root or sudo, and apt).
# docs/TOOLCHAIN.md explains both routes. One plugin crate, anywhere:
# `prism plugin build DIR`.
# Does nothing when the outputs are newer than every plugin source
# (--force: build anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/plugins
sources=(wit plugin-sdk plugins examples/plugins tests/plugins Cargo.toml Cargo.lock scripts/build-plugins.sh)

# One line per component, crate|feature|output: feature empty for the plain
# build, output under $out; from `cargo metadata`.
discover_py='
import json, os, posixpath, sys
meta = json.load(sys.stdin)
root = meta["workspace_root"]
by_dir = {"plugins": "builtin", "examples/plugins": "examples", "tests/plugins": "fixtures"}
members = set(meta["workspace_members"])
lines, errors, owner = [], [], {}
for p in meta["packages"]:
    if p["id"] not in members:
        continue
    if not any("cdylib" in t["crate_types"] for t in p["targets"]):
        continue
    rel = os.path.relpath(os.path.dirname(p["manifest_path"]), root)
    prism = (p.get("metadata") or {}).get("prism") or {}
    output = prism.get("output")
    if output is None:
        parent, name = os.path.split(rel)
        if parent not in by_dir:
            errors.append(f"{rel}: a plugin crate outside plugins/, examples/plugins/ and tests/plugins/; "
                          "say where its component goes in its Cargo.toml: "
                          "[package.metadata.prism] output = \"examples/NAME.wasm\"")
            continue
        output = f"{by_dir[parent]}/{name}.wasm"
    builds = [("", output)] + sorted((prism.get("feature-builds") or {}).items())
    for feature, output in builds:
        normal = posixpath.normpath(output)
        if posixpath.isabs(output) or normal.startswith("..") or not output.endswith(".wasm"):
            errors.append(f"{rel}: output {output!r} must be a relative path ending in .wasm (under target/plugins/)")
            continue
        if normal in owner:
            errors.append(f"{rel} and {owner[normal]} both write {output}: change [package.metadata.prism] "
                          "output in one of them (a copy of a template in plugin-sdk/templates keeps the template value: delete it)")
            continue
        owner[normal] = rel
        lines.append("|".join((p["name"], feature, normal)))
if errors:
    sys.exit("build-plugins.sh: " + "\nbuild-plugins.sh: ".join(errors))
if not lines:
    sys.exit("build-plugins.sh: no plugin crates in the workspace")
print("\n".join(lines))
'
builds=()
discover() {
  local listing
  listing=$(cargo metadata --no-deps --format-version 1 | python3 -c "$discover_py") || return 1
  mapfile -t builds <<<"$listing"
}

up_to_date() {
  local stamp=$out/.stamp entry
  [[ -f $stamp ]] || return 1
  [[ -z $(find "${sources[@]}" -newer "$stamp" -type f -print -quit) ]] || return 1
  for entry in "${builds[@]}"; do [[ -f $out/${entry##*|} ]] || return 1; done
}

# Which components to build (on a machine with no cargo yet: once the
# toolchain is installed, below).
if command -v cargo >/dev/null 2>&1; then discover || exit 1; fi
if [[ ${1:-} != --force ]] && ((${#builds[@]})) && up_to_date; then
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
    echo "installing the wasm toolchain from Debian: ${need[*]} (docs/TOOLCHAIN.md)" >&2
    sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc >&2
  fi
  # Debian's cargo and rustc first on PATH (rustup's proxies lack the target).
  export PATH=/usr/bin:$PATH
  cargo_wasm() {
    RUSTC_BOOTSTRAP=1 RUSTFLAGS='-L /usr/lib/wasm32-wasi -C link-self-contained=no' \
      cargo build --release --locked --target wasm32-wasip2 -Z build-std=std,panic_abort \
      --target-dir "$wasm_target_dir" "$@"
  }
fi

((${#builds[@]})) || discover || exit 1
if ! locked=$(cargo metadata --locked --format-version 1 2>&1 >/dev/null); then
  if [[ $locked == *"--locked was passed"* ]]; then
    cat >&2 <<'EOF'
build-plugins.sh: Cargo.lock does not match the workspace (a new plugin crate?).
Add the new crates' entries without changing any version, then commit Cargo.lock:
  cargo metadata --offline --format-version 1 >/dev/null
(`prism plugin build DIR` updates it as it builds.)
EOF
  else
    echo "$locked" >&2
  fi
  exit 1
fi

# Copy one crate's component of the last build.
copy_built() {
  local crate=$1 dest=$out/$2
  mkdir -p "$(dirname "$dest")"
  cp "$wasm_target_dir/wasm32-wasip2/release/${crate//-/_}.wasm" "$dest"
}

# All plain builds in one cargo run; each feature build after it, since it
# writes over the same artifact.
packages=() plain=() featured=()
for entry in "${builds[@]}"; do
  IFS='|' read -r crate feat dest <<<"$entry"
  if [[ -z $feat ]]; then packages+=(-p "$crate") plain+=("$entry"); else featured+=("$entry"); fi
done
cargo_wasm "${packages[@]}"
for entry in "${plain[@]}"; do
  IFS='|' read -r crate _ dest <<<"$entry"
  copy_built "$crate" "$dest"
done
for entry in "${featured[@]}"; do
  IFS='|' read -r crate feat dest <<<"$entry"
  cargo_wasm -p "$crate" --features "$feat"
  copy_built "$crate" "$dest"
done
touch "$out/.stamp"
ls -l "$out"/*/*.wasm >&2
