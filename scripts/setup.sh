#!/usr/bin/env bash
# Installs what ringgate needs to build, run and test on a fresh Debian 12 machine, and fetches
# wolfSSL's Debian source package into subprojects/wolfssl/upstream and the pinned liburing and
# llhttp into subprojects/{liburing,llhttp}/upstream (scripts/fetch-deps.sh). Safe to run
# again: every step checks before it acts. With --bench it also installs the peers and tools the benchmarks
# in bench/ compare against and measure with (nginx, HAProxy, h2o, Caddy, valgrind, perf,
# testssl.sh, and matplotlib for bench/plot_results.py's charts).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config meson ninja-build
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libwolfssl-dev
  dpkg-dev xz-utils ca-certificates
  openssl curl python3 python3-websockets wrk nghttp2-client procps iproute2 nftables
  clang libclang-rt-14-dev clang-format
  chromium  # the admin page test renders the page headless
  help2man  # the man page
  debhelper  # the Debian package (debian/, scripts/check-package.sh)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(nginx-light haproxy h2o caddy python3-matplotlib valgrind util-linux linux-perf
    testssl.sh)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts the packaged nginx/HAProxy/h2o/Caddy services on install; the benchmarks run
  # their own.
  if [ "${1:-}" = "--bench" ]; then
    (systemctl stop nginx haproxy h2o caddy || service nginx stop || true) >/dev/null 2>&1
  fi
fi

bash scripts/fetch-wolfssl.sh || echo "setup: WARNING: wolfSSL source unavailable; the build falls back to Debian's slow libwolfssl" >&2
# No fallback here: ringgate has no other copy of liburing 2.9 or llhttp 9 to build against.
bash scripts/fetch-deps.sh
