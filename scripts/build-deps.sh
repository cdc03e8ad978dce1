#!/usr/bin/env bash
# System packages the server's build needs and a fresh machine may lack:
# pkg-config and libssl-dev, for SQLCipher's libcrypto (encryption at rest).
# Installs them with apt when missing; does nothing otherwise.
set -euo pipefail
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libcrypto 2>/dev/null || missing+=(libssl-dev)
if ((${#missing[@]})); then
  sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
