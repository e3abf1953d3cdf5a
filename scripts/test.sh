#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and integration), then prints one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
status=0
meson test -C build --print-errorlogs || status=$?
# One closing line that counts the individual GoogleTest cases, not just the two binaries.
python3 - build/meson-logs/testlog.junit.xml <<'PY' || true
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed = failed = skipped = 0
for c in cases:
    if c.find("failure") is not None or c.find("error") is not None:
        failed += 1
    elif c.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
