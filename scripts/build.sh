#!/usr/bin/env bash
# Configures (once) and builds ringgate into the given build directory (default: build): every
# target, or the ninja targets named after the directory.
#   bash scripts/build.sh build ringgate tests/integration_tests
# With CI=true, warnings are errors in ringgate's own code.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  werror=false
  [ "${CI:-}" = "true" ] && werror=true
  meson setup "$build_dir" --buildtype=release -Dwerror="$werror"
elif [ -f subprojects/wolfssl/upstream/.ringgate-source-version ] &&
     grep -q RINGGATE_SYSTEM_WOLFSSL "$build_dir/build.ninja" 2>/dev/null; then
  # The source arrived after a fallback configure: switch to the fast build.
  meson setup --reconfigure "$build_dir"
fi
ninja -C "$build_dir" "${@:2}"
