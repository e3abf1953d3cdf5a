#!/usr/bin/env bash
# Builds the Debian package from this tree (dpkg-buildpackage -b -us -uc, debian/) and checks
# what it would install, unpacked into a throwaway root with dpkg -x, never onto this machine:
# the binary runs and says the package's version, the unit checks the configuration before it
# starts or reloads and runs it as the ringgate user, the configuration is a conffile of mode
# 640, the man page and the documentation the unit names are there, postinst creates the user
# (read, not run: it would change this machine), the packaged configuration with the
# self-signed certificate postinst makes passes `ringgate --check-config`, and a purge removes
# that certificate only while it is postinst's.
#
#   bash scripts/check-package.sh        # the package ends up in build-package/
# DEB_BUILD_OPTIONS is passed on (scripts/test.sh builds with noopt: the contents are the same,
# the compile is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-package
rm -rf "$out"
mkdir -p "$out"
version=$(dpkg-parsechangelog -S Version)
echo "check-package: building ringgate $version"
if ! dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  echo "check-package: dpkg-buildpackage failed (log: $out/build.log)"
  exit 1
fi
# dpkg-buildpackage writes beside the tree.
for f in "ringgate_${version}_amd64.deb" "ringgate-dbgsym_${version}_amd64.deb" \
         "ringgate_${version}_amd64.buildinfo" "ringgate_${version}_amd64.changes"; do
  [ -f "../$f" ] && mv "../$f" "$out/"
done
deb="$out/ringgate_${version}_amd64.deb"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"

failures=0
check() {  # description, then the command that must succeed
  if "${@:2}" >/dev/null 2>&1; then
    echo "check-package: ok: $1"
  else
    echo "check-package: FAILED: $1"
    failures=$((failures + 1))
  fi
}
has_line() { grep -qxF -- "$2" "$1"; }
unit="$root/lib/systemd/system/ringgate.service"

check "the package's version is meson's project version" \
  grep -qF "version : '${version%%-*}'," meson.build
check "usr/bin/ringgate runs and names that version" \
  bash -c "'$root/usr/bin/ringgate' --version | head -n 1 | grep -q '^ringgate ${version%%-*} '"
check "the binary is position-independent with full RELRO (hardening)" \
  bash -c "readelf -h '$root/usr/bin/ringgate' | grep -q 'DYN' &&
           readelf -d '$root/usr/bin/ringgate' | grep -q 'BIND_NOW' &&
           readelf -l '$root/usr/bin/ringgate' | grep -q 'GNU_RELRO'"
check "the unit checks the configuration before each start" \
  has_line "$unit" "ExecStartPre=/usr/bin/ringgate --check-config --flagfile=/etc/ringgate/ringgate.flags"
check "the unit starts /usr/bin/ringgate on /etc/ringgate/ringgate.flags" \
  has_line "$unit" "ExecStart=/usr/bin/ringgate --flagfile=/etc/ringgate/ringgate.flags"
check "the unit is Type=notify as the ringgate user" \
  bash -c "grep -qx 'Type=notify' '$unit' && grep -qx 'User=ringgate' '$unit'"
check "the unit's documentation is installed, uncompressed" \
  test -f "$root/usr/share/doc/ringgate/operations.md"
check "the configuration is /etc/ringgate/ringgate.flags, mode 640" \
  test "$(stat -c %a "$root/etc/ringgate/ringgate.flags")" = 640
check "the configuration is a conffile" has_line "$root/DEBIAN/conffiles" /etc/ringgate/ringgate.flags
check "the man page ringgate(8) documents --check-config" \
  bash -c "zcat '$root/usr/share/man/man8/ringgate.8.gz' | grep -q 'check\\\\-config'"
check "the package depends on adduser and openssl (postinst uses both)" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q 'adduser' && dpkg-deb -f '$deb' Depends | grep -q 'openssl'"
check "postinst creates the ringgate system user" \
  grep -q "adduser --system --group" "$root/DEBIAN/postinst"
check "postinst enables the unit (debhelper's systemd snippet)" \
  grep -q "deb-systemd-helper" "$root/DEBIAN/postinst"
check "the maintainer scripts are valid sh" \
  bash -c "sh -n '$root/DEBIAN/postinst' && sh -n '$root/DEBIAN/postrm'"
check "a reload checks the configuration before it signals" \
  bash -c "grep '^ExecReload=' '$unit' | head -n 1 | grep -qxF 'ExecReload=/usr/bin/ringgate --check-config --flagfile=/etc/ringgate/ringgate.flags'"
# The maintainer scripts' own functions, run against the throwaway root (config_dir and
# state_dir pointed into it; the functions use nothing else of the machine's).
scripts_env="config_dir='$root/etc/ringgate'; state_dir='$root/var/lib/ringgate'
  eval \"\$(sed -n '/^make_self_signed() {/,/^}/p' '$root/DEBIAN/postinst')\"
  eval \"\$(sed -n '/^remove_self_signed() {/,/^}/p' '$root/DEBIAN/postrm')\""
# The packaged configuration, its paths moved into the throwaway root: with postinst's
# certificate in place it must pass the check the unit runs before every start.
sed "s#/etc/ringgate/#$root/etc/ringgate/#g" "$root/etc/ringgate/ringgate.flags" >"$root/moved.flags"
check "the packaged configuration with postinst's certificate passes --check-config" \
  sh -c "set -e; $scripts_env
         make_self_signed
         '$root/usr/bin/ringgate' --check-config --flagfile='$root/moved.flags' --access-log=off"
check "a purge removes that certificate and key while they are postinst's" \
  sh -c "set -e; $scripts_env
         remove_self_signed
         test ! -e '$root/etc/ringgate/cert.pem' && test ! -e '$root/etc/ringgate/key.pem'"
check "a purge keeps a certificate put in the place of postinst's" \
  sh -c "set -e; $scripts_env
         make_self_signed
         cp '$root/usr/share/doc/ringgate/copyright' '$root/etc/ringgate/cert.pem'
         remove_self_signed
         test -e '$root/etc/ringgate/cert.pem' && test ! -e '$root/etc/ringgate/key.pem'"

if [ "$failures" -gt 0 ]; then
  echo "check-package: $failures checks failed"
  exit 1
fi
echo "check-package: every check passed ($deb)"
