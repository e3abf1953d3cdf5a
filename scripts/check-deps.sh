#!/usr/bin/env bash
# Is each dependency still current? A pin is a promise: this says when one falls behind.
#
#   bash scripts/check-deps.sh
#
# - wolfSSL, built from a pinned Debian source package (scripts/fetch-wolfssl.sh): fails (exit 1)
#   when Debian's archive no longer serves the pinned version (a fresh machine could not build
#   ringgate as CI did), and warns when the archive has a newer version, naming the suites
#   (bookworm-security: a security update to adopt now; trixie or sid: a newer upstream release).
# - liburing and llhttp, pinned in scripts/dep-pins.sh (scripts/fetch-deps.sh fetches them):
#   fetches each pinned file again and fails when the archive no longer serves it or its sha256
#   changed; warns when trixie or sid has a newer version (check_pinned_deps below).
# - the Debian binary packages ringgate builds against (abseil, spdlog): warns when this
#   machine's apt knows a newer candidate than the one installed.
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

for package in libabsl-dev libspdlog-dev; do
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

# liburing and llhttp (scripts/dep-pins.sh). Its own apt lists (binary ones too: llhttp's pin is
# a binary package), so that it stays apart from the wolfSSL check above. Each pinned file is
# fetched again: an index that still lists a version does not mean its files are still there.
check_pinned_deps() {
  source scripts/dep-pins.sh
  local lists=$work/pins suites=(trixie trixie-updates trixie-security sid)
  if ! DEBIAN_SOURCES_TYPES="deb deb-src" debian_sources_update "$lists" "${suites[@]}" \
       >"$work/pins.log" 2>&1 || grep -q '^[WE]:' "$work/pins.log"; then
    echo "check-deps: WARNING: Debian's archive could not be read;" \
         "liburing and llhttp not checked:" >&2
    sed 's/^/  /' "$work/pins.log" >&2
    return 0
  fi
  local dep
  for dep in "${pinned_deps[@]}"; do
    local package_var=${dep}_package version_var=${dep}_version kind_var=${dep}_kind
    local package=${!package_var} pinned=${!version_var} kind=${!kind_var}
    local -n sha256=${dep}_sha256
    local index=Sources fetch=(source --download-only)
    if [ "$kind" = binary ]; then index=Packages fetch=(download); fi
    # "liburing | 2.9-1 | http://... trixie/main Sources": the versions served, with their suites.
    local served=() newer=() line version suite
    mapfile -t served < <(apt-cache "${apt_private[@]}" madison "$package" 2>/dev/null |
      awk -F' *[|] *' -v index_type="$index" '$3 ~ (index_type "$") {
        split($3, where, " "); sub("/.*", "", where[2]); print $2 " " where[2] }' | sort -u)
    local listed=()
    for line in "${served[@]}"; do
      read -r version suite <<<"$line"
      listed+=("$version ($suite)")
      if dpkg --compare-versions "$version" gt "$pinned"; then newer+=("$version ($suite)"); fi
    done
    mkdir -p "$work/pins-$dep"
    local fetched=1 f
    (cd "$work/pins-$dep" && apt-get "${apt_private[@]}" "${fetch[@]}" -qq "$package=$pinned") \
      >"$work/pins-$dep.log" 2>&1 || fetched=
    for f in "${!sha256[@]}"; do
      [ -n "$fetched" ] && echo "${sha256[$f]}  $work/pins-$dep/$f" | sha256sum --check --quiet - \
        >/dev/null 2>&1 && continue
      fetched=
    done
    if [ -z "$fetched" ]; then
      echo "check-deps: FAIL: $dep $pinned ($package, scripts/dep-pins.sh) cannot be fetched" \
           "from Debian's archive with its pinned sha256; listed: ${listed[*]:-nothing}" >&2
      sed 's/^/  /' "$work/pins-$dep.log" >&2
      status=1
    else
      echo "check-deps: $dep $pinned ($package) is served by Debian's archive, sha256 as pinned"
    fi
    if [ ${#newer[@]} -gt 0 ]; then
      echo "check-deps: WARNING: newer $dep in Debian's archive than the pin $pinned:" \
           "${newer[*]}" >&2
    fi
    unset -n sha256
  done
}
check_pinned_deps

exit $status
