#!/usr/bin/env bash
# Fetches wolfSSL from Debian's source package (pinned version, sha256-checked) and unpacks it,
# with Debian's patches applied, into subprojects/wolfssl/upstream. Debian's binary package is
# built without assembly (about 28x slower at AES-GCM); subprojects/wolfssl/meson.build builds
# this source with the x86-64 assembly instead.
#
# deb-src is enabled for this call only (scripts/debian-sources.sh), so the machine's apt
# configuration is left as it was. scripts/check-deps.sh says when the pin falls behind.
set -euo pipefail
cd "$(dirname "$0")/.."

# bookworm-security's newest (14 CVE fixes backported over deb12u2, among them CVE-2026-6325).
readonly version="5.5.4-2+deb12u3"
readonly upstream_version="5.5.4"
declare -A sha256=(
  ["wolfssl_${version}.dsc"]="41cc3bce69a14214cc16f03f87e1292d8a2f95c03bbf94f49ca36b010989a81a"
  ["wolfssl_${upstream_version}.orig.tar.gz"]="b7ee150e49def77c765bc02aac92ddeb0bebefd4cb12aa263d8f95e405221fb8"
  ["wolfssl_${version}.debian.tar.xz"]="79565eb855d557eb062cb88b033b6fe96e2a6e598236021b81b9840bef5ab6f4"
)
readonly dest="subprojects/wolfssl/upstream"
readonly stamp="$dest/.ringgate-source-version"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source scripts/debian-sources.sh
debian_sources_update "$work" bookworm bookworm-updates bookworm-security
(cd "$work" && apt-get "${apt_private[@]}" source --download-only -qq "wolfssl=$version")

for f in "${!sha256[@]}"; do
  echo "${sha256[$f]}  $work/$f" | sha256sum --check --quiet - ||
    { echo "fetch-wolfssl: sha256 mismatch for $f" >&2; exit 1; }
done

rm -rf "$dest"
dpkg-source --no-check -x "$work/wolfssl_${version}.dsc" "$work/src" >/dev/null
mv "$work/src" "$dest"
echo "$version" >"$stamp"
echo "fetch-wolfssl: unpacked wolfSSL $version into $dest"
