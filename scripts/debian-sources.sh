# Sourced by the scripts that read Debian's source packages: a private apt configuration (its own
# sources list and list directory under a temporary folder), so that deb-src is enabled for these
# calls only and the machine's own apt configuration is left as it was.
#
#   source scripts/debian-sources.sh
#   debian_sources_update "$work" bookworm bookworm-security   # fills apt_private
#   apt-get "${apt_private[@]}" source --download-only wolfssl=5.5.4-2+deb12u3
#
# With DEBIAN_SOURCES_TYPES="deb deb-src" the binary package lists come too (for a package whose
# useful content is built, such as llhttp's generated C sources): apt-get download then works.

# Writes the sources for the given suites (a "-security" suite comes from the security archive)
# into $1, runs apt-get update with them, and sets apt_private to the options that use them.
debian_sources_update() {
  local work=$1
  shift
  local main_suites=() security_suites=() suite
  for suite in "$@"; do
    case $suite in
      *-security) security_suites+=("$suite") ;;
      *) main_suites+=("$suite") ;;
    esac
  done
  mkdir -p "$work/lists/partial" "$work/sources.d"
  : >"$work/sources.d/deb-src.sources"
  if [ ${#main_suites[@]} -gt 0 ]; then
    cat >>"$work/sources.d/deb-src.sources" <<SOURCES
Types: ${DEBIAN_SOURCES_TYPES:-deb-src}
URIs: http://deb.debian.org/debian
Suites: ${main_suites[*]}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

SOURCES
  fi
  if [ ${#security_suites[@]} -gt 0 ]; then
    cat >>"$work/sources.d/deb-src.sources" <<SOURCES
Types: ${DEBIAN_SOURCES_TYPES:-deb-src}
URIs: http://deb.debian.org/debian-security
Suites: ${security_suites[*]}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  fi
  apt_private=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources.d"
               -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
  apt-get "${apt_private[@]}" update -qq
}

# Whether file $3 in folder $1 has the sha256 that the associative array named $2 (file name ->
# sha256) pins for it. Every fetch checks every file with this before unpacking anything.
debian_sha256_matches() {
  local -n pinned_sums=$2
  [ -n "${pinned_sums[$3]:-}" ] &&
    echo "${pinned_sums[$3]}  $1/$3" | sha256sum --check --quiet - >/dev/null 2>&1
}
