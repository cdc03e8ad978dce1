#!/usr/bin/env bash
# Verify the Docker image for real, without a Docker engine or a registry:
#   1. lint the Dockerfile (hadolint, from the Python venv),
#   2. podman (runc) with a local debian:bookworm-slim made by debootstrap
#      from Debian's packages, when no such image exists,
#   3. build the image's `prebuilt` target: the runtime stage, with the
#      `prism` binary built on this machine (the builder stage needs the
#      official Rust image, which cannot be pulled here),
#   4. run it and test it (tests/image): heartbeat and HEALTHCHECK, non-root
#      user, an authenticated request, a custom plugin from a mounted
#      /plugins, HTTPS, data in the volume surviving a restart, and the
#      hardened run: --read-only (no tmpfs anywhere, as with Docker)
#      --cap-drop=ALL --security-opt=no-new-privileges, serving real
#      requests, passing its healthcheck and restarting on its volume.
# Expects target/release/prism (scripts/test.sh builds it first) and the
# plugins (scripts/build-plugins.sh). Installs what it lacks (root + apt).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${PRISM_IMAGE:-localhost/prism:test}
BASE=docker.io/library/debian:bookworm-slim
sudo_cmd=(); ((EUID == 0)) || sudo_cmd=(sudo)

echo "image: lint" >&2
.venv/bin/hadolint --failure-threshold warning Dockerfile

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null || ! command -v runc >/dev/null; then
  echo "image: installing podman, runc, debootstrap" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq podman runc debootstrap >&2
fi
# crun fails on these machines (setrlimit / cgroup mode); runc works.
if [[ ! -f /etc/containers/containers.conf ]]; then
  "${sudo_cmd[@]}" mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' |
    "${sudo_cmd[@]}" tee /etc/containers/containers.conf >/dev/null
fi

if ! podman image exists "$BASE"; then
  echo "image: making $BASE with debootstrap" >&2
  rootfs=$(mktemp -d)
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  "${sudo_cmd[@]}" debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  "${sudo_cmd[@]}" tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
  "${sudo_cmd[@]}" rm -rf "$rootfs"
fi

echo "image: building $IMAGE from target/release/prism" >&2
mkdir -p target/docker
# The image ships the binary without debug line tables.
strip --strip-debug -o target/docker/prism target/release/prism
podman build --quiet --format docker --target prebuilt -t "$IMAGE" . >/dev/null
podman image inspect --format '{{.Size}}' "$IMAGE" |
  awk '{ printf "image: %s is %.0f MB\n", "'"$IMAGE"'", $1 / 1e6 }' >&2

echo "image: testing" >&2
PRISM_IMAGE=$IMAGE .venv/bin/python -m pytest tests/image -q -p no:cacheprovider
