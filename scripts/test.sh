#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and integration) twice: on the release build, and on
# a build with AddressSanitizer and UndefinedBehaviorSanitizer (leak checks included; any report
# fails the run); then each libFuzzer target briefly. Checks first that the pinned dependencies
# are current (scripts/check-deps.sh), that no module includes one above it
# (scripts/check-layers.sh) and that the C++ is formatted as .clang-format says
# (scripts/check-format.sh). Prints one summary line counting the individual test cases.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
status=0
# A pinned dependency that Debian's archive no longer serves fails the run (a fresh machine could
# not build what CI built); a newer release only warns.
bash scripts/check-deps.sh || status=$?
bash scripts/check-layers.sh || status=$?
bash scripts/check-format.sh || status=$?
meson test -C build --print-errorlogs || status=$?

if [ ! -f build-sanitize/build.ninja ]; then
  werror=false
  [ "${CI:-}" = "true" ] && werror=true
  meson setup build-sanitize --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false -Dwerror="$werror"
fi
ninja -C build-sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-sanitize --print-errorlogs || status=$?

# The libFuzzer targets (clang, ASan, UBSan), each for a bounded time over its seed corpus.
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz --buildtype=debugoptimized -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-fuzz
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-fuzz --suite fuzz --print-errorlogs || status=$?

python3 - build/meson-logs/testlog.junit.xml build-sanitize/meson-logs/testlog.junit.xml \
  build-fuzz/meson-logs/testlog.junit.xml <<'PY' || true
import sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for c in ET.parse(path).getroot().iter("testcase"):
        if c.find("failure") is not None or c.find("error") is not None:
            failed += 1
        elif c.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
