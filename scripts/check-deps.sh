#!/usr/bin/env bash
# Is each dependency still current? A pin is a promise: this says when one falls behind.
#
#   bash scripts/check-deps.sh
#
# - wolfSSL, built from pinned Debian sources (scripts/fetch-wolfssl.sh): a primary (sid's newest)
#   and a fallback (a stable release's). Sid drops a version as soon as a newer one is uploaded,
#   so the primary vanishing is expected and only warns: the fetch then builds the fallback, and
#   says so. The fallback is the promise that a fresh machine can always build ringgate: when it
#   is no longer served, this fails (exit 1). A version newer than the primary warns, naming the
#   suites (a -security suite: a fix to adopt now; sid: a newer upstream release).
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

pin_of() { sed -n "s/^readonly $1=\"\(.*\)\"$/\1/p" scripts/fetch-wolfssl.sh; }
primary=$(pin_of primary_version)
fallback=$(pin_of fallback_version)
if [ -z "$primary" ] || [ -z "$fallback" ]; then
  echo "check-deps: no primary_version/fallback_version pins found in scripts/fetch-wolfssl.sh" >&2
  exit 1
fi

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
# Whether a version's files can still be fetched: the index may list a version whose .dsc is
# already gone from the pool (sid's 5.9.2-1.2 on 2026-12-02), so ask for the files themselves.
fetchable() {
  mkdir -p "$work/try-$1" &&
    (cd "$work/try-$1" && apt-get "${apt_private[@]}" source --download-only -qq "wolfssl=$1") \
      >/dev/null 2>&1
}
status=0
listed() { printf '%s\n' "${served[@]}" | grep -q "^$1 "; }
if listed "$fallback" && fetchable "$fallback"; then
  echo "check-deps: wolfSSL fallback $fallback is served by Debian's archive"
else
  echo "check-deps: FAIL: wolfSSL fallback $fallback (scripts/fetch-wolfssl.sh) can no longer be" \
       "fetched from Debian's archive; served: ${served[*]:-nothing}" >&2
  status=1
fi
if listed "$primary" && fetchable "$primary"; then
  echo "check-deps: wolfSSL primary $primary is served by Debian's archive"
else
  echo "check-deps: WARNING: wolfSSL primary $primary can no longer be fetched whole (index:" \
       "$(listed "$primary" && echo listed || echo not listed)); scripts/fetch-wolfssl.sh builds" \
       "its orig tarball alone or the fallback $fallback. Served: ${served[*]:-nothing}" >&2
fi
newer=()
for line in "${served[@]}"; do
  read -r version suite <<<"$line"
  if dpkg --compare-versions "$version" gt "$primary"; then newer+=("$version ($suite)"); fi
done
if [ ${#newer[@]} -gt 0 ]; then
  echo "check-deps: WARNING: newer wolfSSL in Debian's archive than the primary $primary: ${newer[*]}" >&2
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
      [ -n "$fetched" ] && debian_sha256_matches "$work/pins-$dep" "${dep}_sha256" "$f" && continue
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
