#!/usr/bin/env bash
# Is each dependency still current? A pin is a promise: this says when one falls behind.
#
#   bash scripts/check-deps.sh
#
# - wolfSSL, built from a pinned Debian source package (scripts/fetch-wolfssl.sh): fails (exit 1)
#   when Debian's archive no longer serves the pinned version (a fresh machine could not build
#   ringgate as CI did), and warns when the archive has a newer version, naming the suites
#   (bookworm-security: a security update to adopt now; trixie or sid: a newer upstream release).
# - the Debian binary packages ringgate builds against (liburing, llhttp's sources, abseil,
#   spdlog): warns when this machine's apt knows a newer candidate than the one installed.
# When the archive cannot be reached at all, it says so and exits 0: that is no verdict on a pin.
# scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian-sources.sh

pinned=$(sed -n 's/^readonly version="\(.*\)"$/\1/p' scripts/fetch-wolfssl.sh)
[ -n "$pinned" ] || { echo "check-deps: no pinned wolfSSL version found in scripts/fetch-wolfssl.sh" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
suites=(bookworm bookworm-updates bookworm-security trixie trixie-security sid)
if ! debian_sources_update "$work" "${suites[@]}" >"$work/update.log" 2>&1 ||
   grep -q '^[WE]:' "$work/update.log"; then
  echo "check-deps: WARNING: Debian's archive could not be read; nothing checked:" >&2
  sed 's/^/  /' "$work/update.log" >&2
  exit 0
fi

# "wolfssl | 5.5.4-2+deb12u3 | http://deb.debian.org/debian-security bookworm-security/main Sources"
mapfile -t served < <(apt-cache "${apt_private[@]}" madison wolfssl | awk -F' *[|] *' '/Sources$/ {
  split($3, where, " "); sub("/.*", "", where[2]); print $2 " " where[2] }' | sort -u)
status=0
found=
newer=()
for line in "${served[@]}"; do
  read -r version suite <<<"$line"
  [ "$version" = "$pinned" ] && found=1
  if dpkg --compare-versions "$version" gt "$pinned"; then newer+=("$version ($suite)"); fi
done
if [ -z "$found" ]; then
  echo "check-deps: FAIL: wolfSSL $pinned (scripts/fetch-wolfssl.sh) is no longer in Debian's archive;" \
       "served: ${served[*]:-nothing}" >&2
  status=1
else
  echo "check-deps: wolfSSL $pinned is served by Debian's archive"
fi
if [ ${#newer[@]} -gt 0 ]; then
  echo "check-deps: WARNING: newer wolfSSL in Debian's archive than the pin $pinned: ${newer[*]}" >&2
fi

for package in liburing-dev node-llhttp libabsl-dev libspdlog-dev; do
  policy=$(apt-cache policy "$package" 2>/dev/null)
  installed=$(awk '/Installed:/ {print $2}' <<<"$policy")
  candidate=$(awk '/Candidate:/ {print $2}' <<<"$policy")
  if [ -z "$installed" ] || [ "$installed" = "(none)" ]; then
    echo "check-deps: $package is not installed (bash scripts/setup.sh installs it)"
  elif [ -n "$candidate" ] && [ "$candidate" != "(none)" ] &&
       dpkg --compare-versions "$candidate" gt "$installed"; then
    echo "check-deps: WARNING: $package $installed is installed, $candidate is available" >&2
  else
    echo "check-deps: $package $installed is the newest this machine's apt knows"
  fi
done
exit $status
