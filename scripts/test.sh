#!/usr/bin/env bash
# Sets up, builds and runs every test: the integration tests twice, against the release build's
# proxy and against one built with AddressSanitizer and UndefinedBehaviorSanitizer (leak checks
# included; any report fails the run), the unit tests on that sanitized build; then each
# libFuzzer target briefly. Checks first that the pinned dependencies
# are current (scripts/check-deps.sh), that no module includes one above it
# (scripts/check-layers.sh) and that the C++ is formatted as .clang-format says
# (scripts/check-format.sh); builds the Debian package and checks its contents
# (scripts/check-package.sh). Prints one summary line counting the individual test cases, and
# how long each phase took. The sanitized build compiles at the lowest CPU priority beside the
# release build's integration tests, which mostly wait.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the run's time goes, printed at the end: CI has a budget, and the phases decide it.
phase_times=()
phase_name=""
phase_start=$SECONDS
phase() {  # ends the running phase and starts the one named
  [ -n "$phase_name" ] && phase_times+=("$(printf '%5d s  %s' $((SECONDS - phase_start)) "$phase_name")")
  phase_name=$1
  phase_start=$SECONDS
}
phase "set-up (packages, pinned sources)"
bash scripts/setup.sh
status=0
phase "release build (the proxy and the integration tests)"
# The unit tests are built and run once, on the sanitized build below (assertions on, ASan and
# UBSan watching); the release build is what the integration tests exercise. The
# micro-benchmarks are compiled (never run) so that they keep building.
bash scripts/build.sh build ringgate tests/integration_tests bench/micro/micro_benchmarks
phase "dependency, layer and format checks"
# A pinned dependency that Debian's archive no longer serves fails the run (a fresh machine could
# not build what CI built); a newer release only warns.
bash scripts/check-deps.sh || status=$?
bash scripts/check-layers.sh || status=$?
bash scripts/check-format.sh || status=$?

# The sanitized build is the proxy and the unit tests: the integration tests are the release
# build's binary, run against the sanitized proxy (RINGGATE_BINARY), which is what they exercise;
# compiling the test harness with the sanitizers too took minutes and checked only the harness.
# It compiles at the lowest priority while the release tests run: they mostly wait on deadlines
# and sockets, and the scheduler gives them the CPU whenever they want it.
build_sanitized() {
  if [ ! -f build-sanitize/build.ninja ]; then
    local werror=false
    [ "${CI:-}" = "true" ] && werror=true
    # -O1 and line tables only (-g1): what the sanitizers' reports need (ASan's own advice is
    # -O1), in half the compile time of -O2 -g, which made this the longest phase of CI.
    meson setup build-sanitize --buildtype=custom -Doptimization=1 -Ddebug=false \
      -Dc_args=-g1 -Dcpp_args=-g1 -Db_sanitize=address,undefined -Db_lundef=false \
      -Dwerror="$werror"
  fi
  ninja -C build-sanitize ringgate \
    $(ninja -C build-sanitize -t targets all | grep -o '^tests/unit_[a-z]*_tests' | sort -u)
}
phase "release tests, with the sanitized build beside them (nice 19)"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # a run cut short leaves no build behind
nice -n 19 bash -c "$(declare -f build_sanitized); set -euo pipefail; build_sanitized" \
  >build/sanitized-build.log 2>&1 &
sanitized_build=$!
meson test -C build --suite integration --no-rebuild --print-errorlogs || status=$?
phase "sanitized build (what was left of it)"
if ! wait "$sanitized_build"; then
  tail -n 40 build/sanitized-build.log
  echo "test.sh: the sanitized build failed (log: build/sanitized-build.log)"
  exit 1
fi
phase "Debian package"
# The Debian package, built from the tree and checked unpacked in a throwaway root. noopt: the
# package's contents are what is checked, and an unoptimised compile takes half the time.
DEB_BUILD_OPTIONS="noopt nostrip parallel=$(nproc)" bash scripts/check-package.sh || status=$?

phase "sanitized tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build-sanitize --suite unit --no-rebuild --print-errorlogs || status=$?
RINGGATE_BINARY="$PWD/build-sanitize/ringgate" ./build/tests/integration_tests \
  --gtest_output=xml:build-sanitize/integration.junit.xml >build-sanitize/integration.log 2>&1 || {
  status=1
  grep -E '^\[  FAILED  \]|Failure|ERROR: AddressSanitizer|runtime error' build-sanitize/integration.log
}
tail -n 3 build-sanitize/integration.log
unset ASAN_OPTIONS UBSAN_OPTIONS

# The libFuzzer targets (clang, ASan, UBSan), each for a bounded time over its seed corpus.
phase "fuzz build"
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz --buildtype=debugoptimized -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-fuzz
phase "fuzz runs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-fuzz --suite fuzz --print-errorlogs || status=$?

python3 - build/meson-logs/testlog.junit.xml build-sanitize/meson-logs/testlog.junit.xml \
  build-sanitize/integration.junit.xml build-fuzz/meson-logs/testlog.junit.xml <<'PY' || true
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
phase ""
printf '%s\n' "${phase_times[@]}" "$(printf '%5d s  in all' "$SECONDS")"
exit $status
