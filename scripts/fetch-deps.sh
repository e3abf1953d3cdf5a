#!/usr/bin/env bash
# Fetches the pinned liburing and llhttp (scripts/dep-pins.sh) from Debian's archive, checks every
# file's sha256, and unpacks each into its subproject's upstream/ folder, which meson builds
# for every target (the proxy, tests, fuzz targets, benchmarks). Safe to run again: a dependency
# whose upstream/ already holds the pinned version is left alone.
#
#   bash scripts/fetch-deps.sh
#
# The apt configuration is private to this call (scripts/debian-sources.sh); the machine's own
# is left as it was. scripts/check-deps.sh says when a pin falls behind or leaves the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/dep-pins.sh

stamp_of() { echo "$1/.ringgate-source-version"; }

wanted=()
for dep in "${pinned_deps[@]}"; do
  version_var=${dep}_version dest_var=${dep}_dest
  stamp=$(stamp_of "${!dest_var}")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${!version_var}" ]; then continue; fi
  wanted+=("$dep")
done
[ ${#wanted[@]} -gt 0 ] || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source scripts/debian-sources.sh
suites=()
for dep in "${wanted[@]}"; do
  suite_var=${dep}_suite
  suites+=("${!suite_var}")
done
mapfile -t suites < <(printf '%s\n' "${suites[@]}" | sort -u)
DEBIAN_SOURCES_TYPES="deb deb-src" debian_sources_update "$work/apt" "${suites[@]}"

for dep in "${wanted[@]}"; do
  package_var=${dep}_package version_var=${dep}_version kind_var=${dep}_kind dest_var=${dep}_dest
  package=${!package_var} version=${!version_var} kind=${!kind_var} dest=${!dest_var}
  declare -n sha256=${dep}_sha256
  mkdir -p "$work/$dep"
  case $kind in
    source) fetch=(source --download-only) ;;
    binary) fetch=(download) ;;
  esac
  (cd "$work/$dep" && apt-get "${apt_private[@]}" "${fetch[@]}" -qq "$package=$version")
  for f in "${!sha256[@]}"; do
    debian_sha256_matches "$work/$dep" "${dep}_sha256" "$f" ||
      { echo "fetch-deps: sha256 mismatch for $f" >&2; exit 1; }
  done
  case $kind in
    source)
      dsc=$(printf '%s\n' "${!sha256[@]}" | grep '\.dsc$')
      dpkg-source --no-check -x "$work/$dep/$dsc" "$work/$dep/src" >/dev/null ;;
    binary)
      member_var=${dep}_member
      deb=$(printf '%s\n' "${!sha256[@]}" | grep '\.deb$')
      dpkg-deb -x "$work/$dep/$deb" "$work/$dep/root"
      mv "$work/$dep/root/${!member_var}" "$work/$dep/src"
      # Debian's copyright file says what the generated sources are under; it travels with them.
      cp "$work/$dep/root/usr/share/doc/$package/copyright" "$work/$dep/src/debian-copyright" ;;
  esac
  unset -n sha256
  rm -rf "$dest"
  mv "$work/$dep/src" "$dest"
  echo "$version" >"$(stamp_of "$dest")"
  echo "fetch-deps: unpacked $package $version into $dest"
done
