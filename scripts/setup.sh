#!/usr/bin/env bash
# Installs what ringgate needs to build, run and test on a fresh Debian 12 machine, and fetches
# wolfSSL's Debian source package into subprojects/wolfssl/upstream. Safe to run again: every
# step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config meson ninja-build
  liburing-dev node-llhttp libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libwolfssl-dev
  dpkg-dev xz-utils ca-certificates
  openssl curl python3 wrk nghttp2-client procps iproute2
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash scripts/fetch-wolfssl.sh || echo "setup: WARNING: wolfSSL source unavailable; the build falls back to Debian's slow libwolfssl" >&2
