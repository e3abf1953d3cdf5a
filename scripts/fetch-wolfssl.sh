#!/usr/bin/env bash
# Fetches wolfSSL's source from Debian's archive (pinned versions, sha256-checked) and unpacks it
# into subprojects/wolfssl/upstream, which subprojects/wolfssl/meson.build builds with the x86-64
# assembly (Debian's binary package has none: about 28x slower at AES-GCM).
#
#   bash scripts/fetch-wolfssl.sh                              # the primary, else the fallback
#   RINGGATE_WOLFSSL_FALLBACK=1 bash scripts/fetch-wolfssl.sh  # the fallback, to exercise it
#
# Three outcomes, tried in this order; the one used is written to upstream/.ringgate-source-version
# and shown by `ringgate --version` and the start-up line:
#   debian    the primary's Debian source package (.dsc, orig tarball and Debian's patches).
#   orig      the primary's orig tarball alone (upstream's release, sha256 as Debian lists it),
#             when sid's .dsc and Debian tarball have already left the archive but the orig
#             tarball is still served (so it was on 2026-12-02).
#   fallback  a durable older version (a stable release's, which stays in the archive), with
#             Debian's patches.
# Each then gets ringgate's own patches for its upstream version, subprojects/wolfssl/patches/
# <upstream version>/*.patch (fixes the release lacks); a patch that does not apply stops the fetch.
# Only a file that cannot be fetched moves on to the next; a sha256 mismatch stops at once.
#
# deb-src is enabled for these calls only (scripts/debian-sources.sh), so the machine's apt
# configuration is left as it was. scripts/check-deps.sh says when a pin falls behind or vanishes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Primary: sid's newest (ML-KEM hybrid groups; every CVE fix listed in docs/security.md).
readonly primary_version="5.9.2-1.2"
readonly primary_upstream="5.9.2"
readonly primary_suite="sid"
declare -A primary_sha256=(
  ["wolfssl_${primary_version}.dsc"]="569900a94caec6ebcece2a70e5034d9288de883a3fbb6d9807c3cf663fbcbfda"
  ["wolfssl_${primary_upstream}.orig.tar.gz"]="2f4ef3d4fd387a9b3191d36a6316d69116c46ff69bb9583b6c82b36d7b8ca114"
  ["wolfssl_${primary_version}.debian.tar.xz"]="e512984f185866c99452b769eb4b5e7fe4c878bc6e5eb98079fcbf4585c5e4a7"
)
# Fallback: trixie's (a stable release: stays in the archive). No ML-KEM hybrid groups.
readonly fallback_version="5.7.2-0.1+deb13u2"
readonly fallback_upstream="5.7.2"
readonly fallback_suite="trixie"
declare -A fallback_sha256=(
  ["wolfssl_${fallback_version}.dsc"]="b61bd9e726503a49e1d66244ff3d1aca5d15f08f489699d3f7c7b0acec72b1e8"
  ["wolfssl_${fallback_upstream}.orig.tar.gz"]="0f2ed82e345b833242705bbc4b08a2a2037a33f7bf9c610efae6464f6b10e305"
  ["wolfssl_${fallback_version}.debian.tar.xz"]="c4c31ffaa8e05e1132cb535cc0b0cd3083e04f134883ab039154f3857d0a96d8"
)
readonly dest="subprojects/wolfssl/upstream"
readonly stamp="$dest/.ringgate-source-version"
force_fallback=${RINGGATE_WOLFSSL_FALLBACK:-0}

stamped_kind() { sed -n 's/^kind=//p' "$stamp" 2>/dev/null; }
stamped_version() { sed -n 's/^version=//p' "$stamp" 2>/dev/null; }
# ringgate's patches for an upstream version are part of what the stamp stands for: a new or
# changed patch refetches.
patches_of() { echo "subprojects/wolfssl/patches/$1"; }
patches_digest() { cat "$(patches_of "$1")"/*.patch 2>/dev/null | sha256sum | cut -c1-16; }

if [ "$force_fallback" != 1 ] && [ "$(stamped_version)" = "$primary_version" ] &&
   grep -qx "patches=$(patches_digest "$primary_upstream")" "$stamp"; then
  exit 0
fi
if [ "$force_fallback" = 1 ] && [ "$(stamped_kind)" = fallback ] &&
   [ "$(stamped_version)" = "$fallback_version" ] &&
   grep -qx "patches=$(patches_digest "$fallback_upstream")" "$stamp"; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source scripts/debian-sources.sh

# Checks the named files in $work against the given sha256 table; a mismatch ends the script.
check_sha256() {
  local table=$1 f
  shift
  for f in "$@"; do
    debian_sha256_matches "$work" "$table" "$f" ||
      { echo "fetch-wolfssl: sha256 mismatch for $f: refusing it" >&2; exit 1; }
  done
}

# Applies ringgate's patches for upstream version $2 to the tree at $1; prints their names.
apply_patches() {
  local tree=$1 upstream=$2 p applied=()
  for p in "$(patches_of "$upstream")"/*.patch; do
    [ -f "$p" ] || continue
    patch -d "$tree" -p1 --quiet --forward --fuzz=0 --no-backup-if-mismatch <"$p" >&2 ||
      { echo "fetch-wolfssl: $p does not apply to wolfSSL $upstream" >&2; exit 1; }
    applied+=("$(basename "$p" .patch)")
  done
  echo "${applied[*]:-none}"
}

# Replaces $dest with the tree at $1 and writes the stamp from the remaining key=value lines.
install_tree() {
  local tree=$1
  shift
  rm -rf "$dest"
  mv "$tree" "$dest"
  # The archives' own dates can be older than objects built from another version: new dates
  # make ninja rebuild everything from this tree.
  find "$dest" -exec touch -c {} +
  printf '%s\n' "$@" >"$stamp"
}

kind=
if [ "$force_fallback" = 1 ]; then
  echo "fetch-wolfssl: RINGGATE_WOLFSSL_FALLBACK=1: skipping the primary $primary_version" >&2
else
  debian_sources_update "$work" "$primary_suite" >"$work/update.log" 2>&1 || true
  mkdir "$work/primary"
  (cd "$work/primary" &&
   apt-get "${apt_private[@]}" source --download-only -qq "wolfssl=$primary_version") \
    >"$work/primary.log" 2>&1 || true
  mv "$work"/primary/* "$work"/ 2>/dev/null || true
  dsc="wolfssl_${primary_version}.dsc"
  orig="wolfssl_${primary_upstream}.orig.tar.gz"
  deb="wolfssl_${primary_version}.debian.tar.xz"
  if [ -f "$work/$dsc" ] && [ -f "$work/$orig" ] && [ -f "$work/$deb" ]; then
    check_sha256 primary_sha256 "$dsc" "$orig" "$deb"
    dpkg-source --no-check -x "$work/$dsc" "$work/src" >/dev/null
    applied=$(apply_patches "$work/src" "$primary_upstream")
    install_tree "$work/src" "version=$primary_version" "upstream_version=$primary_upstream" \
      "kind=debian" "patches=$(patches_digest "$primary_upstream")" \
      "origin=Debian source $primary_version from $primary_suite + ringgate patches: $applied"
    kind=debian
  elif [ -f "$work/$orig" ]; then
    check_sha256 primary_sha256 "$orig"
    echo "fetch-wolfssl: $dsc or $deb is no longer served; using the orig tarball alone" \
         "(upstream's $primary_upstream without Debian's packaging patches)" >&2
    mkdir "$work/src"
    tar -xzf "$work/$orig" -C "$work/src" --strip-components=1
    applied=$(apply_patches "$work/src" "$primary_upstream")
    origin="Debian source $primary_version from $primary_suite, orig tarball only"
    origin+=" (Debian's patches no longer served) + ringgate patches: $applied"
    install_tree "$work/src" "version=$primary_version" "upstream_version=$primary_upstream" \
      "kind=orig" "patches=$(patches_digest "$primary_upstream")" "origin=$origin"
    kind=orig
  else
    echo "fetch-wolfssl: the primary $primary_version cannot be fetched; falling back to" \
         "$fallback_version:" >&2
    sed 's/^/  /' "$work/primary.log" >&2
  fi
fi

if [ -z "$kind" ]; then
  if [ "$(stamped_kind)" = fallback ] && [ "$(stamped_version)" = "$fallback_version" ] &&
     grep -qx "patches=$(patches_digest "$fallback_upstream")" "$stamp"; then
    exit 0
  fi
  debian_sources_update "$work" "$fallback_suite"
  (cd "$work" && apt-get "${apt_private[@]}" source --download-only -qq "wolfssl=$fallback_version")
  check_sha256 fallback_sha256 "${!fallback_sha256[@]}"
  dpkg-source --no-check -x "$work/wolfssl_${fallback_version}.dsc" "$work/src" >/dev/null
  applied=$(apply_patches "$work/src" "$fallback_upstream")
  install_tree "$work/src" "version=$fallback_version" "upstream_version=$fallback_upstream" \
    "kind=fallback" "patches=$(patches_digest "$fallback_upstream")" \
    "origin=Debian source $fallback_version from $fallback_suite + ringgate patches: $applied"
  kind=fallback
fi
echo "fetch-wolfssl: unpacked wolfSSL ($(sed -n 's/^origin=//p' "$stamp")) into $dest"
